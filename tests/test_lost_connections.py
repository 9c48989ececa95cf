"""Pooled MySQL connections that the database closed while they sat idle (wait_timeout, KILL, a
restart) never reach a request: every REST call and socket frame after the idle spell succeeds
and /readyz says ok. A database that is really gone gives quick 503s, one that stops answering
(black-holed) 503s within database_timeout_seconds, and once it is back the server carries on. Each scenario runs on asyncio's own loop and on uvloop, which `hubbub serve`
runs on: uvloop raises RuntimeError on a closed transport where asyncio's loop lets the driver
report a lost connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import uvloop
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.app import create_app
from server.keys import DB
from settings import load_settings
from storage import conversations as conversation_store
from storage import message_batch
from storage import users as user_store
from storage.engine import PING_AFTER_IDLE_SECONDS, create_engine
from storage.messages import NewMessage
from tests.chat import ChatUser, Socket, UserFactory, online
from tests.conftest import MYSQL_SERVER_URL, create_mysql_database, create_schema_at_head, drop_mysql_database

pytestmark = pytest.mark.mysql

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
WAIT_TIMEOUT_SECONDS = 2
# The pool holds several connections after the warm-up; sequential requests go through all of
# them, so every dead one is handed out at least once.
ROUNDS = 3
ANSWER_WITHIN_SECONDS = 5
BLACK_HOLE_TIMEOUT = 0.5  # database_timeout_seconds while the relay black-holes the database

Scenario = Callable[[], Coroutine[Any, Any, None]]


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    """Runs a scenario on the loop this test is parametrized with: server, pool and clients
    all live on it, as in `hubbub serve`."""

    def run_scenario(scenario: Scenario) -> None:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
            runner.run(scenario())

    return run_scenario


@pytest.fixture
def quiet(caplog: pytest.LogCaptureFixture) -> Callable[[], None]:
    """Asserts that nothing was logged at WARNING or above since the last call: a dead pooled
    connection is replaced without a fault or an outage being reported."""
    caplog.set_level(logging.INFO)

    def check() -> None:
        loud = [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]
        caplog.clear()
        assert not loud, loud

    return check


@contextlib.asynccontextmanager
async def fresh_database() -> AsyncIterator[str]:
    """The URL of a new database holding the schema, dropped afterwards."""
    url = await create_mysql_database()
    try:
        schema = create_engine(url)
        async with schema.begin() as conn:
            await conn.run_sync(create_schema_at_head)
        await schema.dispose()
        yield url
    finally:
        await drop_mysql_database(url)


@contextlib.asynccontextmanager
async def chat_server(tmp_path: Path, database_url: str, **settings: Any) -> AsyncIterator[TestClient]:
    app = create_app(load_settings("testing", database_url=database_url, upload_dir=str(tmp_path / "uploads"), **settings))
    async with TestClient(TestServer(app)) as client:
        yield client


class Chat:
    """Two users in a direct conversation, alice with an open socket."""

    def __init__(self, client: TestClient, alice: ChatUser, bob: ChatUser, socket: Socket, conversation_id: int) -> None:
        self.client = client
        self.alice = alice
        self.bob = bob
        self.socket = socket
        self.conversation_id = conversation_id
        self.sent = 0

    @classmethod
    async def start(cls, client: TestClient) -> Chat:
        factory = UserFactory(client)
        alice, bob = await factory.make("alice"), await factory.make("bob")
        conversation = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
        (socket,) = await online(alice)
        chat = cls(client, alice, bob, socket, conversation["id"])
        # Requests at once, so that the pool holds several connections when they die.
        await asyncio.gather(*(_answered(bob, "GET", "/api/conversations") for _ in range(8)))
        return chat

    async def everything_succeeds(self) -> None:
        """REST calls and socket frames that read and write the database, each a success."""
        for _ in range(ROUNDS):
            health = await self._within(self.client.get("/readyz"))
            assert (health.status, await health.json()) == (200, {"code": 200, "message": "ok", "data": {"database": "ok", "schema": "ok"}})
            assert (await self._within(self.bob.ok("GET", "/api/users/me")))["id"] == self.bob.id
            self.sent += 1
            path = f"/api/conversations/{self.conversation_id}/messages"
            assert (await self._within(self.bob.ok("POST", path, json={"content": f"rest {self.sent}"})))["content"] == f"rest {self.sent}"
            reply = await self._within(self.socket.request("send_message", {"conversation_id": self.conversation_id, "content": f"socket {self.sent}"}))
            assert reply["code"] == 201, reply
            reply = await self._within(self.socket.request("history", {"conversation_id": self.conversation_id}))
            assert reply["code"] == 200 and reply["data"][-1]["content"] == f"socket {self.sent}", reply
            reply = await self._within(self.socket.request("mark_read", {"conversation_id": self.conversation_id, "seq": reply["data"][-1]["seq"]}))
            assert reply["code"] == 200, reply

    async def everything_is_unavailable(self) -> None:
        """The same calls, each a quick 503 in the envelope that says when to retry."""
        health = await self._within(self.client.get("/readyz"))
        assert_unavailable(health.status, await health.json())
        for method, path, body in (
            ("GET", "/api/users/me", None),
            ("POST", f"/api/conversations/{self.conversation_id}/messages", {"content": "lost"}),
            ("GET", f"/api/conversations/{self.conversation_id}/messages", None),
        ):
            response = await self._within(self.client.request(method, path, headers=self.bob.auth, json=body))
            assert_unavailable(response.status, await response.json())
            assert int(response.headers["Retry-After"]) >= 1
        for type_, data in (("send_message", {"conversation_id": self.conversation_id, "content": "lost"}), ("history", {"conversation_id": self.conversation_id})):
            reply = await self._within(self.socket.request(type_, data))
            assert reply["code"] == 503 and reply["data"]["retry_after_ms"] >= 1, reply

    @staticmethod
    async def _within(call):
        return await asyncio.wait_for(call, ANSWER_WITHIN_SECONDS)


async def _answered(user: ChatUser, method: str, path: str, attempts: int = 3) -> Any:
    """`user.ok(method, path)`, asked again after a 503: eight new connections at once may take
    a busy machine longer than the black-hole test's half-second database timeout, which is
    not what the setup is for."""
    for _ in range(attempts - 1):
        status, body = await user.call(method, path)
        if status != 503:
            assert status < 300, (status, body)
            return body["data"]
    return await user.ok(method, path)


def assert_unavailable(status: int, body: dict) -> None:
    assert status == 503, body
    assert set(body) == {"code", "message", "data"} and body["code"] == 503, body


@contextlib.asynccontextmanager
async def watcher(client: TestClient) -> AsyncIterator[AsyncConnection]:
    """A connection of the test's own to the app's database (not from the app's pool)."""
    engine = create_engine(client.app[DB].url.render_as_string(hide_password=False))
    try:
        async with engine.connect() as conn:
            yield conn
    finally:
        await engine.dispose()


async def app_sessions(conn: AsyncConnection) -> list[int]:
    """Ids of the other server sessions on this database: the app's (the test user sees its
    own sessions without the PROCESS privilege)."""
    rows = await conn.execute(text("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"))
    return [row.ID for row in rows]


def test_connections_closed_by_wait_timeout_are_replaced(run, tmp_path, quiet):
    async def scenario() -> None:
        async with fresh_database() as url, chat_server(tmp_path, url) as client:
            engine = client.app[DB]

            @event.listens_for(engine.sync_engine, "connect")
            def _short_wait_timeout(dbapi_connection, _record):
                cursor = dbapi_connection.cursor()
                cursor.execute(f"SET SESSION wait_timeout = {WAIT_TIMEOUT_SECONDS}")
                cursor.close()

            await engine.dispose()
            chat = await Chat.start(client)
            assert engine.pool.checkedin() >= 2
            await asyncio.sleep(WAIT_TIMEOUT_SECONDS + 1.5)
            async with watcher(client) as conn:
                assert await app_sessions(conn) == []  # the server did close them all
            quiet()
            await chat.everything_succeeds()
            quiet()

    run(scenario)


def test_killed_connections_are_replaced(run, tmp_path, quiet):
    async def scenario() -> None:
        async with fresh_database() as url, chat_server(tmp_path, url) as client:
            chat = await Chat.start(client)
            assert client.app[DB].pool.checkedin() >= 2
            async with watcher(client) as conn:
                for session_id in await app_sessions(conn):
                    await conn.execute(text(f"KILL CONNECTION {int(session_id)}"))
            await asyncio.sleep(0.2)
            quiet()
            await chat.everything_succeeds()
            quiet()

    run(scenario)


def test_a_batch_connection_killed_right_after_its_batch_is_not_used_again(run, tmp_path, quiet):
    """The message writer keeps its connection from one batch to the next while they follow
    closely (handlers.services.message_writer); one the database killed in between is dropped,
    not used for the next batch."""

    async def scenario() -> None:
        async with fresh_database() as url, chat_server(tmp_path, url) as client:
            chat = await Chat.start(client)
            async with watcher(client) as conn:
                for round_ in range(3):
                    send = {"conversation_id": chat.conversation_id, "content": f"before kill {round_}"}
                    assert (await chat.socket.request("send_message", send))["code"] == 201
                    for session_id in await app_sessions(conn):
                        await conn.execute(text(f"KILL CONNECTION {int(session_id)}"))
                    await asyncio.sleep(0.05)  # the FIN reaches the app's loop; well inside the keep window
                    send = {"conversation_id": chat.conversation_id, "content": f"after kill {round_}"}
                    reply = await chat._within(chat.socket.request("send_message", send))
                    assert reply["code"] == 201, reply
            quiet()

    run(scenario)


class Relay:
    """A TCP relay in front of the test database, as a proxy would be: it can drop every
    connection it carries (with a FIN, or a reset as a NAT or proxy that forgot them sends),
    and stop and start again on the same port, which to the app is a database going away
    (closing every connection, refusing new ones) and coming back. Black-holed, it forwards
    nothing either way and closes nothing, new connections included, until it is restored:
    to the app, a database that stopped answering."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()
        self._app_sides: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    def black_hole(self) -> None:
        self._flowing.clear()

    def restore(self) -> None:
        self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self, *, reset: bool) -> None:
        assert self._server is not None
        self._server.close()
        await self.drop_connections(reset=reset)
        await self._server.wait_closed()

    async def drop_connections(self, *, reset: bool) -> None:
        for writer in list(self._app_sides):
            if reset:
                writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        await asyncio.sleep(0.2)  # for the app's loop to see its connections go

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self._app_sides.add(writer)
        pipes = {asyncio.create_task(self._pipe(reader, up_writer)), asyncio.create_task(self._pipe(up_reader, writer))}
        self._pipes |= pipes
        await asyncio.wait(pipes)
        self._pipes -= pipes
        self._app_sides.discard(writer)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def relayed_database() -> AsyncIterator[tuple[str, Relay]]:
    """A fresh database as reached through a Relay: its URL and the relay."""
    relay = Relay(make_url(MYSQL_SERVER_URL).port or 3306)
    await relay.start()
    try:
        async with fresh_database() as url:
            yield make_url(url).set(host="127.0.0.1", port=relay.port).render_as_string(hide_password=False), relay
    finally:
        await relay.stop(reset=False)


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "reset"])
def test_connections_dropped_by_a_proxy_are_replaced(run, tmp_path, quiet, reset):
    async def scenario() -> None:
        async with relayed_database() as (url, relay), chat_server(tmp_path, url) as client:
            chat = await Chat.start(client)
            await relay.drop_connections(reset=reset)
            quiet()
            await chat.everything_succeeds()
            quiet()

    run(scenario)


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "reset"])
def test_a_stopped_database_gives_quick_503s_and_a_restarted_one_is_used_again(run, tmp_path, reset):
    async def scenario() -> None:
        async with relayed_database() as (url, relay), chat_server(tmp_path, url) as client:
            chat = await Chat.start(client)
            await relay.stop(reset=reset)
            started = time.monotonic()
            await chat.everything_is_unavailable()
            assert time.monotonic() - started < ANSWER_WITHIN_SECONDS
            await relay.start()
            await chat.everything_succeeds()

    run(scenario)


def test_a_black_holed_database_gives_503s_within_the_timeout_and_is_used_again(run, tmp_path):
    """A database that stops answering without closing anything (the relay forwards nothing):
    every REST call, socket frame and /readyz gets 503 within database_timeout_seconds or two,
    not a hang (aiomysql has no read timeout of its own), the socket stays open, and once the
    database answers again everything works."""

    async def scenario() -> None:
        async with relayed_database() as (url, relay), chat_server(tmp_path, url, database_timeout_seconds=BLACK_HOLE_TIMEOUT) as client:
            chat = await Chat.start(client)
            relay.black_hole()
            started = time.monotonic()
            await chat.everything_is_unavailable()
            # Seven calls, one after the other, each waiting for the database once or twice.
            assert time.monotonic() - started < 7 * 2 * BLACK_HOLE_TIMEOUT + 1
            assert not chat.socket.ws.closed
            relay.restore()
            await chat.everything_succeeds()

    run(scenario)


def test_a_connection_lost_while_in_use_is_an_unavailable_database_not_a_fault(run):
    """What a check at checkout cannot catch: the connection goes while a request holds it.
    The statement fails as a lost connection (the server answers 503), the pool drops it, and
    the next checkout gets a working one. On uvloop the failing write raises RuntimeError."""

    async def scenario() -> None:
        async with relayed_database() as (url, relay):
            engine = create_engine(url)
            try:
                async with fresh_users(engine) as (alice, bob):
                    async with engine.begin() as conn:
                        direct, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
                    for statement in (
                        lambda conn: conn.execute(text("SELECT 1")),
                        # The group commit's statements run on the driver's connection.
                        lambda conn: message_batch.append_batch(conn, [NewMessage(direct.id, alice, None, "lost", 1, None)]),
                    ):
                        async with engine.connect() as conn:
                            await conn.execute(text("SELECT 1"))
                            await relay.drop_connections(reset=True)
                            with pytest.raises(OperationalError) as lost:
                                await statement(conn)
                            assert lost.value.connection_invalidated and conn.invalidated
                        async with engine.connect() as conn:
                            assert await conn.scalar(text("SELECT 1")) == 1
            finally:
                await engine.dispose()

    run(scenario)


@contextlib.asynccontextmanager
async def fresh_users(engine: AsyncEngine) -> AsyncIterator[tuple[int, int]]:
    async with engine.begin() as conn:
        alice = await user_store.insert_user(conn, username="alice", email="a@example.com", password_hash="x", nickname=None)
        bob = await user_store.insert_user(conn, username="bob", email="b@example.com", password_hash="x", nickname=None)
    yield alice.id, bob.id


async def checked_out_driver(engine: AsyncEngine):
    async with engine.connect() as conn:
        return (await conn.get_raw_connection()).driver_connection


def count_pings(driver, fail: bool = False) -> list[float]:
    """Wraps the driver connection's ping; the list fills with the time of each call."""
    pings = []
    real_ping = driver.ping

    async def ping(*args, **kwargs):
        pings.append(time.monotonic())
        if fail:
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")
        return await real_ping(*args, **kwargs)

    driver.ping = ping
    return pings


async def test_a_connection_just_in_use_is_handed_out_without_a_ping(engine):
    """Issue #12: no round trip on every checkout. Only a connection idle for long enough that
    wait_timeout may be closing it is pinged."""
    driver = await checked_out_driver(engine)
    pings = count_pings(driver)
    assert await checked_out_driver(engine) is driver
    assert pings == []
    await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.1)
    assert await checked_out_driver(engine) is driver
    assert len(pings) == 1
    assert await checked_out_driver(engine) is driver
    assert len(pings) == 1


async def test_a_connection_older_than_the_recycle_time_is_replaced(engine, database_url, monkeypatch):
    """Issue #12: instead of a ping on every checkout, a recycle time. A connection that answers
    its ping is still not handed out once it is older than that (a proxy may have forgotten it)."""
    monkeypatch.setattr("storage.engine.RECYCLE_SECONDS", 1)
    recycled = create_engine(database_url)
    try:
        driver = await checked_out_driver(recycled)
        pings = count_pings(driver)
        assert await checked_out_driver(recycled) is driver
        await asyncio.sleep(1.1)
        async with recycled.connect() as conn:
            assert (await conn.get_raw_connection()).driver_connection is not driver
            assert await conn.scalar(text("SELECT 1")) == 1
        assert driver.closed and pings == []
    finally:
        await recycled.dispose()


async def test_a_connection_that_fails_its_ping_is_replaced(engine):
    driver = await checked_out_driver(engine)
    pings = count_pings(driver, fail=True)
    await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.1)
    async with engine.connect() as conn:
        assert (await conn.get_raw_connection()).driver_connection is not driver
        assert await conn.scalar(text("SELECT 1")) == 1
    assert len(pings) == 1
    assert driver.closed
