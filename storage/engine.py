"""The async engine for `database_url`: aiomysql for MySQL/MariaDB, aiosqlite embedded."""

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(database_url)
    engine = create_async_engine(
        database_url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        # Below MySQL's wait_timeout, so a pooled connection is never found closed by the server.
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
        if reset_state.asyncio_safe and record.driver_connection.get_transaction_status():
            dbapi_connection.rollback()

    return engine


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
