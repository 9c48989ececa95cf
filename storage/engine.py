"""The async engine for `database_url`: aiomysql for MySQL/MariaDB, aiosqlite embedded."""

import asyncio
import time
from functools import wraps

import aiomysql
from pymysql.constants import CR
from pymysql.err import OperationalError as DriverOperationalError
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

# A pooled connection idle for longer than this is pinged before it is handed out; one used more
# recently is handed out without a round trip. MySQL's wait_timeout cannot be set below a
# second, so the server never closes a connection that has been idle for less than this.
PING_AFTER_IDLE_SECONDS = 0.5
_IDLE_SINCE = "hubbub_idle_since"
# A NAT or proxy that forgets an idle connection without a word leaves it looking alive until it
# is used. No connection older than this is used, so none whose idle timeout is above half an
# hour can have forgotten one of ours.
RECYCLE_SECONDS = 1800
# The `database_timeout_seconds` setting's default (settings.toml).
DATABASE_TIMEOUT_SECONDS = 5.0


def create_engine(database_url: str, timeout_seconds: float = DATABASE_TIMEOUT_SECONDS) -> AsyncEngine:
    """`timeout_seconds` bounds every wait on a MySQL/MariaDB server: a checkout from the full
    pool, opening a connection, each statement (see _AnsweringConnection)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(database_url)
    engine = create_async_engine(
        database_url,
        pool_size=10,
        max_overflow=10,
        pool_timeout=timeout_seconds,
        # Instead of pool_pre_ping (a round trip on every checkout): see _hand_out_live_connections.
        # The most recently used connection goes out first, so under a steady load a few stay busy
        # (never pinged) and the rest idle until the server closes them, which costs nothing.
        pool_use_lifo=True,
        pool_recycle=RECYCLE_SECONDS,
        isolation_level="READ COMMITTED",
        # MariaDB caps JSON_ARRAYAGG, which the group commit reads its batch through, at
        # group_concat_max_len (a server may set it as low as MySQL's 1024 bytes).
        connect_args={
            "charset": "utf8mb4",
            "init_command": "SET SESSION group_concat_max_len = 16777216",
            "connect_timeout": timeout_seconds,
            "async_creator_fn": _answering_connector(timeout_seconds),
        },
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
            except NoAnswer:
                # The server is there but does not answer: a new connection would only wait
                # as long again. The caller hears of it at once (503).
                raise
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


class NoAnswer(DriverOperationalError):
    """The server did not answer a command within the connection's timeout; `server_thread_id`
    is its thread, which may still be running the command (None before the handshake)."""

    server_thread_id: int | None = None


class _Watchdog:
    """Gives up on the commands of its connections that have waited past their deadline:
    closes the connection, which ends the wait at once (the driver sees the end of its stream).
    A timer per command (asyncio.timeout) cost ~8 us of CPU per statement, on the driver's
    ~45 us for a SELECT 1; this costs a clock read and a set update (~1 us, within the noise),
    and a tick every tenth of the timeout while some command is waiting."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_seconds: float) -> None:
        self.loop = loop
        self.timeout = timeout_seconds
        self._period = timeout_seconds / 10
        self._waiting: set[_AnsweringConnection] = set()
        self._tick: asyncio.TimerHandle | None = None

    def start(self, conn: "_AnsweringConnection") -> None:
        if conn.commands_running == 0:
            conn.deadline = self.loop.time() + self.timeout
            self._waiting.add(conn)
            if self._tick is None:
                self._tick = self.loop.call_later(self._period, self._check)
        conn.commands_running += 1

    def stop(self, conn: "_AnsweringConnection") -> None:
        conn.commands_running -= 1
        if conn.commands_running == 0:
            self._waiting.discard(conn)

    def _check(self) -> None:
        self._tick = None
        now = self.loop.time()
        for conn in [conn for conn in self._waiting if conn.deadline <= now]:
            self._waiting.discard(conn)
            conn.given_up = True
            conn.close()
        if self._waiting:
            self._tick = self.loop.call_later(self._period, self._check)


def _bounded(command):
    """`command` of an _AnsweringConnection, failed with NoAnswer when the server has not
    answered it within the connection's timeout. The connection is closed then: its half-read
    answer may still arrive, so nothing may ever be sent on it again, and `connection_lost`
    says so to the pool and to callers that keep a connection."""

    @wraps(command)
    async def bounded(self, *args, **kwargs):
        watchdog = self.watchdog
        watchdog.start(self)
        try:
            return await command(self, *args, **kwargs)
        except Exception:
            if not self.given_up:
                raise
            # CR_SERVER_LOST (2013): what SQLAlchemy's dialect takes for a disconnect (invalidate
            # the connection) and server.errors for an unavailable database (503).
            error = NoAnswer(CR.CR_SERVER_LOST, f"the database did not answer within {watchdog.timeout}s")
            # The server may still be working on the command (a COMMIT among them): whoever must
            # know how it ended ends that thread first (storage.server_threads).
            thread = getattr(self, "server_thread_id", None)
            error.server_thread_id = thread[0] if thread else None
            raise error from None
        finally:
            watchdog.stop(self)

    return bounded


class _AnsweringConnection(aiomysql.Connection):
    """An aiomysql connection that waits for the server at most its watchdog's timeout per
    command. aiomysql has no read timeout of its own: a server that stops answering without
    closing its connections (stopped, frozen on a disk, behind a black-holed network) would
    hold every request and every message batch forever. Every command the engine and the group
    commit's `_call` send goes through these methods."""

    watchdog: _Watchdog
    deadline: float = 0.0
    commands_running: int = 0
    given_up: bool = False

    # The handshake too: a stopped server's kernel still accepts the TCP connection.
    _connect = _bounded(aiomysql.Connection._connect)
    query = _bounded(aiomysql.Connection.query)
    next_result = _bounded(aiomysql.Connection.next_result)
    begin = _bounded(aiomysql.Connection.begin)
    commit = _bounded(aiomysql.Connection.commit)
    rollback = _bounded(aiomysql.Connection.rollback)
    ping = _bounded(aiomysql.Connection.ping)
    autocommit = _bounded(aiomysql.Connection.autocommit)
    set_charset = _bounded(aiomysql.Connection.set_charset)


def _answering_connector(timeout_seconds: float):
    """aiomysql.connect, making _AnsweringConnections that wait `timeout_seconds`, watched by
    one watchdog per event loop."""
    watchdogs: dict[asyncio.AbstractEventLoop, _Watchdog] = {}

    async def connect(**kwargs) -> _AnsweringConnection:
        loop = asyncio.get_running_loop()
        watchdog = watchdogs.get(loop)
        if watchdog is None:
            watchdogs.clear()  # an engine outlives no loop but its own (tests run one per test)
            watchdog = watchdogs[loop] = _Watchdog(loop, timeout_seconds)
        conn = _AnsweringConnection(**kwargs)
        conn.watchdog = watchdog
        await conn._connect()
        return conn

    return connect


def abandoned_thread(exc: BaseException) -> int | None:
    """The server thread of a connection given up on while it had a command in flight (see
    _bounded), from the error that said so; None for any other error."""
    orig = getattr(exc, "orig", exc)
    return orig.server_thread_id if isinstance(orig, NoAnswer) else None


def still_usable(conn: AsyncConnection) -> bool:
    """Whether a connection held since an earlier use may be used again without asking the
    server: not invalidated, and (MySQL) not known to be closed by the other end; what the
    pool's checkout checks (see create_engine), for a caller that keeps its connection."""
    if conn.invalidated or conn.closed:
        return False
    dbapi_connection = conn.sync_connection.connection.dbapi_connection
    return conn.dialect.name != "mysql" or not connection_lost(dbapi_connection.driver_connection)


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
