"""The async engine for `database_url`: aiomysql for MySQL/MariaDB, aiosqlite embedded."""

import time

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# A pooled connection idle for longer than this is pinged before it is handed out; one used more
# recently is handed out without a round trip. MySQL's wait_timeout cannot be set below a
# second, so the server never closes a connection that has been idle for less than this.
PING_AFTER_IDLE_SECONDS = 0.5
_IDLE_SINCE = "hubbub_idle_since"


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(database_url)
    engine = create_async_engine(
        database_url,
        pool_size=10,
        max_overflow=10,
        # Instead of pool_pre_ping (a round trip on every checkout): see _hand_out_live_connections.
        # The most recently used connection goes out first, so under a steady load a few stay busy
        # (never pinged) and the rest idle until the server closes them, which costs nothing.
        pool_use_lifo=True,
        # A NAT or proxy that forgets an idle connection without a word leaves it looking alive
        # until it is used. No connection older than this is used, so none whose idle timeout is
        # above half an hour can have forgotten one of ours.
        pool_recycle=1800,
        isolation_level="READ COMMITTED",
        # MariaDB caps JSON_ARRAYAGG, which the group commit reads its batch through, at
        # group_concat_max_len (a server may set it as low as MySQL's 1024 bytes).
        connect_args={"charset": "utf8mb4", "init_command": "SET SESSION group_concat_max_len = 16777216"},
        pool_reset_on_return=None,
    )

    # SQLAlchemy rolls back a transaction of its own that is open when a connection closes, but
    # after a commit the pool's default reset sends one more ROLLBACK: a round trip after every
    # committed transaction, each message batch among them. The server says in every reply
    # whether a transaction is open (one SQLAlchemy does not know of, say), so roll back only then.
    @event.listens_for(engine.sync_engine, "reset")
    def _roll_back_if_open(dbapi_connection, record, reset_state):
        driver = record.driver_connection
        if reset_state.asyncio_safe and not connection_lost(driver) and driver.get_transaction_status():
            dbapi_connection.rollback()

    # A pooled connection that the server closed while it sat idle (wait_timeout, KILL, a
    # restart; a proxy that dropped it) must never reach a request. Most are seen without a round
    # trip: the server's FIN or reset reached the loop long before. One idle long enough that
    # wait_timeout may be closing it right now is pinged as well. A DisconnectionError makes the
    # pool replace this one connection and try once more, before anything else is sent on it.
    @event.listens_for(engine.sync_engine, "checkout")
    def _hand_out_live_connections(dbapi_connection, record, _proxy):
        if connection_lost(record.driver_connection):
            raise sa_exc.DisconnectionError("the database closed this pooled connection")
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if idle_since is not None and time.monotonic() - idle_since >= PING_AFTER_IDLE_SECONDS:
            try:
                dbapi_connection.ping(False)
            # Whatever the ping raises (uvloop's RuntimeError on a closed transport included),
            # this connection is of no use; a database that is really gone fails the reconnect.
            except Exception as error:  # noqa: BLE001
                raise sa_exc.DisconnectionError(f"a pooled connection failed its ping: {error!r}") from error

    @event.listens_for(engine.sync_engine, "checkin")
    def _note_idle_since(_dbapi_connection, record):
        record.info[_IDLE_SINCE] = time.monotonic()

    # Closing sends the server a goodbye; on a connection it already closed, uvloop raises
    # RuntimeError for that and the pool logs it as an error. Closing our end is all there is to do.
    @event.listens_for(engine.sync_engine, "close")
    def _close_lost_connections_quietly(_dbapi_connection, record):
        driver = record.driver_connection
        if driver is not None and connection_lost(driver):
            driver.close()

    # A statement on a connection that was lost while in use fails with whatever the loop raises:
    # under uvloop a RuntimeError, not a driver error SQLAlchemy would recognise. It is a lost
    # connection all the same: the pool must drop it, and the caller hears of an unavailable
    # database (503), not of a fault (500).
    @event.listens_for(engine.sync_engine, "handle_error")
    def _lost_connections_are_disconnects(context):
        if not isinstance(context.original_exception, Exception) or context.connection is None or context.connection.invalidated:
            return None  # a cancellation stays one
        if not connection_lost(context.connection.connection.driver_connection):
            return None
        context.is_disconnect = True
        if isinstance(context.sqlalchemy_exception, sa_exc.DBAPIError):
            return None
        return sa_exc.OperationalError(context.statement, context.parameters, context.original_exception, connection_invalidated=True)

    return engine


def connection_lost(driver_connection) -> bool:
    """True when this aiomysql connection is known to be unusable without asking the server:
    closed by the driver, or closed or reset by the other end (its EOF or reset has reached the
    loop). aiomysql has no public accessor for its streams."""
    reader, writer = driver_connection._reader, driver_connection._writer
    if reader is None or writer is None:
        return True
    return writer.transport.is_closing() or reader.at_eof() or reader.exception() is not None


def _sqlite_engine(database_url: str) -> AsyncEngine:
    engine = create_async_engine(database_url, connect_args={"timeout": 30})

    # pysqlite's own transaction handling defers BEGIN past the first SELECT, so two writers can
    # both read and then deadlock on the upgrade to a write lock. Taking the write lock at BEGIN
    # (IMMEDIATE) makes SQLite writers queue instead, as MySQL's row locks do.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
