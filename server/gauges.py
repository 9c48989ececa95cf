"""The gauges that describe a state rather than count events (sockets, queues, the database
pool) are read off that state every few seconds instead of being kept up to date on the hot
path: a scrape sees them at most SAMPLE_SECONDS old."""

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.metrics import (
    DB_POOL_IN_USE,
    DB_POOL_OVERFLOW,
    DB_POOL_SIZE,
    DB_POOL_WAITING,
    PUSH_QUEUE_DEEPEST,
    PUSH_QUEUE_FRAMES,
    SOCKETS_OPEN,
    USERS_ONLINE,
)
from server.tracker import ConnectionTracker

SAMPLE_SECONDS = 2.0


def sample(tracker: ConnectionTracker, db: AsyncEngine) -> None:
    connections = tracker.connections()
    SOCKETS_OPEN.set(len(connections))
    USERS_ONLINE.set(len(tracker.online_users()))
    depths = [conn.queued for conn in connections]
    PUSH_QUEUE_FRAMES.set(sum(depths))
    PUSH_QUEUE_DEEPEST.set(max(depths, default=0))
    pool = db.pool
    if hasattr(pool, "checkedout"):  # a QueuePool; SQLite in memory has a pool of one
        DB_POOL_SIZE.set(pool.size())
        DB_POOL_IN_USE.set(pool.checkedout())
        DB_POOL_OVERFLOW.set(max(0, pool.overflow()))  # negative while the pool is not yet full
        DB_POOL_WAITING.set(_waiting(pool))


def _waiting(pool) -> int:
    """Checkouts blocked on a full pool: the waiters of the asyncio queue behind SQLAlchemy's
    async pool, which has no public count of them."""
    queue = getattr(getattr(pool, "_pool", None), "_queue", None)
    getters = getattr(queue, "_getters", ())
    return sum(1 for getter in getters if not getter.done())
