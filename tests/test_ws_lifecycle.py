"""Socket lifecycle: the connection tracker (slow consumers, several devices, presence) and how
sockets end (logout, token expiry, SIGTERM). Issue 3 Parts 4 and 8, PROTOCOL §4 and §5.

Real server on a loopback port (in process, or `hubbub serve` as a subprocess for SIGTERM), real
client sockets, a fresh MariaDB database per test."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType
from sqlalchemy import select

import server.app
import server.tracker
from handlers.services.tokens import issue_token
from server.app import create_app
from server.keys import TRACKER
from storage.tables import messages
from tests.processes import free_port, hubbub_command
from tests.chat import Socket, UserFactory

TIMEOUT = 10


@pytest.fixture
def make_client(settings, engine, aiohttp_client):
    async def make(**overrides):
        app = create_app(settings.replace(**overrides))
        return await aiohttp_client(app)

    return make


async def receive_close(socket: Socket, timeout: float = TIMEOUT) -> tuple[int | None, list[dict]]:
    """Read until the server closes the socket: (close code, the frames received before it)."""
    frames = []
    while True:
        msg = await socket.ws.receive(timeout=timeout)
        if msg.type == WSMsgType.TEXT:
            frames.append(json.loads(msg.data))
            continue
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), msg
        # The server's code is in its close frame; the client's close_code may be overwritten
        # with 1006 when its own closing reply finds the connection already gone.
        return (msg.data if msg.type == WSMsgType.CLOSE else socket.ws.close_code), frames


async def share_conversation(one, other) -> int:
    """Make `one` and `other` members of a direct conversation (over REST); its id."""
    data = await one.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": other.id})
    return data["id"]


# --- slow consumer ------------------------------------------------------------------------------


def small_receive_buffer(addr_info):
    """A client socket with a small kernel receive buffer, so a reader that stops reading backs
    up into the server quickly (set before connecting, so that the kernel honours it)."""
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


async def test_slow_consumer_is_closed_1013_and_others_keep_receiving(make_client, monkeypatch):
    # The server gives a stalled reader this long to take its close frame before dropping the
    # connection; the test reads only after the flood, so it needs more than the default second.
    monkeypatch.setattr(server.tracker, "CLOSE_WAIT_SECONDS", 60)
    client = await make_client(ws_send_queue_max=20, ws_rate_per_second=100_000, ws_rate_burst=100_000)
    tracker = client.server.app[TRACKER]
    factory = UserFactory(client)
    alice, bob, carol = await factory.make("alice"), await factory.make("bob"), await factory.make("carol")

    slow_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(socket_factory=small_receive_buffer))
    try:
        slow = Socket(await slow_session.ws_connect(client.make_url("/ws"), headers=alice.auth))
        await slow.request("ping")  # registered; from here on alice reads nothing
        flooder = await bob.connect()
        (slow_conn,) = tracker.sockets_of(alice.id)

        control: Socket | None = None
        to_alice = 0
        to_carol: list[int] = []
        received_by_carol: list[int] = []
        content = "\U0001f600" * 4000  # the longest content allowed: 16 kB of UTF-8 a push
        for round_ in range(5000):
            if slow_conn.closing:
                break
            reply = await flooder.request("send_message", {"receiver_id": alice.id, "content": content})
            assert reply["code"] == 201, reply
            to_alice += 1
            if round_ == 10:
                control = await carol.connect()  # connected while alice is backing up
            if control is not None and round_ % 10 == 0:
                reply = await flooder.request("send_message", {"receiver_id": carol.id, "content": f"c{round_}"})
                assert reply["code"] == 201, reply
                to_carol.append(reply["data"]["id"])
                # Carol gets each push while alice's backlog grows (the broadcast never waits
                # for alice); a stalled broadcast would time out here.
                event = await control.event("message.new", TIMEOUT)
                received_by_carol.append(event["data"]["id"])
        assert slow_conn.closing, f"the slow socket was not closed after {to_alice} messages"
        assert control is not None and len(to_carol) >= 2
        assert received_by_carol == to_carol

        # The flooder and the control socket are unaffected.
        assert (await flooder.request("ping"))["code"] == 200
        reply = await flooder.request("send_message", {"receiver_id": carol.id, "content": "after"})
        assert (await control.event("message.new", TIMEOUT))["data"]["id"] == reply["data"]["id"]

        # Alice reads again: what was already on its way, then the close with 1013.
        code, frames = await receive_close(slow, TIMEOUT)
        assert code == 1013
        pushed = [f for f in frames if f["type"] == "message.new"]
        assert 0 < len(pushed) < to_alice  # the queued rest was dropped, not delivered late
        seqs = [f["data"]["seq"] for f in pushed]
        assert seqs == list(range(1, len(seqs) + 1))  # in order, no gap, up to where it stopped
    finally:
        await slow_session.close()

    # Alice's socket is gone from the tracker, and her other devices may still connect.
    for _ in range(100):
        if not tracker.sockets_of(alice.id):
            break
        await asyncio.sleep(0.05)
    assert not tracker.sockets_of(alice.id)
    again = await alice.connect()
    assert (await again.request("ping"))["code"] == 200


async def flood_until_closed(tracker, flooder: Socket, user_id: int) -> int:
    """Send `user_id` the longest messages until the server gives up on its socket; how many."""
    (conn,) = tracker.sockets_of(user_id)
    content = "\U0001f600" * 4000
    for sent in range(5000):
        if conn.closing:
            return sent
        reply = await flooder.request("send_message", {"receiver_id": user_id, "content": content})
        assert reply["code"] == 201, reply
    raise AssertionError("the slow socket was not closed after 5000 messages")


async def test_client_that_never_reads_again_is_let_go(make_client):
    """After 1013 a client that still reads nothing cannot hold the server's socket (and its
    buffered megabytes) forever: the connection is dropped and the user goes offline."""
    client = await make_client(ws_send_queue_max=20, ws_rate_per_second=100_000, ws_rate_burst=100_000)
    tracker = client.server.app[TRACKER]
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    slow_session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(socket_factory=small_receive_buffer))
    try:
        slow = Socket(await slow_session.ws_connect(client.make_url("/ws"), headers=alice.auth))
        await slow.request("ping")
        flooder = await bob.connect()
        await flood_until_closed(tracker, flooder, alice.id)
        # Bob shares the conversation: he hears that alice went offline.
        event = await flooder.event("presence", TIMEOUT)
        assert (event["data"]["user_id"], event["data"]["online"]) == (alice.id, False)
        assert not tracker.sockets_of(alice.id)
        assert (await bob.ok("GET", f"/api/users/{alice.id}"))["online"] is False
    finally:
        await slow_session.close()


# --- several devices ----------------------------------------------------------------------------


async def test_every_device_gets_pushes_but_not_the_sending_socket(users):
    alice, bob = await users.make("alice"), await users.make("bob")
    a1, a2 = await alice.connect(), await alice.connect()
    b1, b2 = await bob.connect(), await bob.connect()

    reply = await b1.request("send_message", {"receiver_id": alice.id, "content": "to both of you"})
    assert reply["code"] == 201
    for receiver in (a1, a2, b2):
        event = await receiver.event("message.new", TIMEOUT)
        assert event == {"type": "message.new", "data": reply["data"]}
    await b1.no_event("message.new", 0.5)

    # Sending from alice's second device: alice's first device and both of bob's get it.
    reply = await a2.request("send_message", {"conversation_id": reply["data"]["conversation_id"], "content": "back"})
    for receiver in (a1, b1, b2):
        assert (await receiver.event("message.new", TIMEOUT))["data"] == reply["data"]
    await a2.no_event("message.new", 0.5)


async def test_push_to_many_sockets_is_serialized_once(users, client, monkeypatch):
    alice, bob = await users.make("alice"), await users.make("bob")
    sockets = [await alice.connect() for _ in range(3)]
    sender = await bob.connect()
    calls = []
    original = server.tracker.dumps_bytes

    def counting_dumps(value):
        if isinstance(value, dict) and value.get("type") == "message.new":
            calls.append(value)
        return original(value)

    monkeypatch.setattr(server.tracker, "dumps_bytes", counting_dumps)
    reply = await sender.request("send_message", {"receiver_id": alice.id, "content": "once"})
    for receiver in sockets:
        assert (await receiver.event("message.new", TIMEOUT))["data"] == reply["data"]
    assert len(calls) == len({id(receiver.node) for receiver in sockets})  # once per server (node)


# --- presence -----------------------------------------------------------------------------------


async def test_presence_on_first_open_and_last_close(users):
    alice, bob, carol = await users.make("alice"), await users.make("bob"), await users.make("carol")
    await share_conversation(bob, alice)
    b = await bob.connect()
    c = await carol.connect()  # online, but shares no conversation with alice

    a1 = await alice.connect()
    event = await b.event("presence", TIMEOUT)
    assert set(event["data"]) == {"user_id", "online", "last_seen"}
    assert event["data"]["user_id"] == alice.id and event["data"]["online"] is True
    assert "id" not in event

    a2 = await alice.connect()
    assert (await a2.request("ping"))["code"] == 200
    await b.no_event("presence", 0.5)  # a second device is no news

    await a1.close()
    await b.no_event("presence", 0.5)  # alice is still online on a2
    user = await bob.ok("GET", f"/api/users/{alice.id}")
    assert user["online"] is True

    before = int(time.time() * 1000)
    await a2.close()
    event = await b.event("presence", TIMEOUT)
    after = int(time.time() * 1000)
    assert event["data"]["user_id"] == alice.id and event["data"]["online"] is False
    assert isinstance(event["data"]["last_seen"], int) and before - 1000 <= event["data"]["last_seen"] <= after + 1000
    await c.no_event("presence", 0.5)
    user = await bob.ok("GET", f"/api/users/{alice.id}")
    assert user["online"] is False

    # Coming back is announced again.
    await alice.connect()
    event = await b.event("presence", TIMEOUT)
    assert (event["data"]["user_id"], event["data"]["online"]) == (alice.id, True)


async def test_presence_after_a_quick_open_and_close_ends_offline(users, client):
    """The announcements look their audience up in the database; when the "online" lookup is
    the slower one, its news is stale by the time it is answered and must not be the last word."""
    alice, bob = await users.make("alice"), await users.make("bob")
    await share_conversation(bob, alice)
    b = await bob.connect()
    tracker = client.server.app[TRACKER]
    lookup = tracker.presence_audiences
    calls = 0

    async def first_lookup_slow(user_ids: list[int]) -> dict[int, list[int]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(1)
        return await lookup(user_ids)

    tracker.presence_audiences = first_lookup_slow
    socket = Socket(await client.ws_connect("/ws", headers=alice.auth))  # on the patched server
    assert (await socket.request("ping"))["code"] == 200
    while calls < 1:  # the "online" lookup is under way (presence lookups are gathered a few ms)
        await asyncio.sleep(0.01)
    await socket.close()
    events = []
    while True:
        try:
            events.append(await b.event("presence", 2))
        except asyncio.TimeoutError:
            break
    assert calls == 2
    assert events and events[-1]["data"]["online"] is False, events
    assert (await bob.ok("GET", f"/api/users/{alice.id}"))["online"] is False


async def test_presence_of_a_burst_of_sockets_is_looked_up_in_spaced_batches(users, client):
    """A reconnect storm's presence news is queued; the audiences are looked up at most once per
    PRESENCE_GATHER_SECONDS, each lookup for everyone queued meanwhile, and each user's coming
    is announced once."""
    bob = await users.make("bob")
    others = [await users.make(f"user{i}") for i in range(12)]
    for other in others:
        await share_conversation(bob, other)
    b = await bob.connect()
    tracker = client.server.app[TRACKER]
    lookup = tracker.presence_audiences
    lookups: list[tuple[float, int]] = []

    async def noted(user_ids: list[int]) -> dict[int, list[int]]:
        lookups.append((time.monotonic(), len(user_ids)))
        return await lookup(user_ids)

    tracker.presence_audiences = noted
    sockets = await asyncio.gather(*(client.ws_connect("/ws", headers=other.auth) for other in others))
    announced = set()
    while len(announced) < len(others):
        event = await b.event("presence", TIMEOUT)
        assert event["data"]["online"] is True
        announced.add(event["data"]["user_id"])
    await b.no_event("presence", 0.3)
    for socket in sockets:
        await socket.close()
    assert announced == {other.id for other in others}
    gaps = [later - earlier for (earlier, _), (later, _) in zip(lookups, lookups[1:])]
    # uvloop's timers have a millisecond's resolution: a gap may look that much shorter.
    assert server.tracker.PRESENCE_GATHER_SECONDS >= 0.005
    assert all(gap >= 0.005 - 0.0015 for gap in gaps), (lookups, gaps)


# --- logout and expiry --------------------------------------------------------------------------


async def test_logout_closes_that_tokens_sockets_1008_only(users, client):
    alice = await users.make("alice")
    response = await client.post("/api/auth/login", json={"username": "alice", "password": "correct horse"})
    other_token = (await response.json())["data"]["token"]
    s1, s2 = await alice.connect(), Socket(await client.ws_connect("/ws", params={"token": alice.token}))
    other = Socket(await client.ws_connect("/ws", headers={"Authorization": f"Bearer {other_token}"}))
    for s in (s1, s2, other):
        assert (await s.request("ping"))["code"] == 200

    await alice.ok("POST", "/api/auth/logout")
    for s in (s1, s2):
        code, _ = await receive_close(s)
        assert code == 1008
    # The other session's socket lives on, and its token still works.
    assert (await other.request("ping"))["code"] == 200
    with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
        await client.ws_connect("/ws", headers=alice.auth)
    assert failure.value.status == 401


async def test_expired_token_socket_is_closed_1008_by_the_sweeper(make_client, monkeypatch, settings):
    """A token without a session (issued before sessions existed) ends its sockets when it
    expires; a session's socket lives on past its token's expiry (the client refreshes the
    token over REST, PROTOCOL §3), until the session ends."""
    monkeypatch.setattr(server.app, "TOKEN_SWEEP_SECONDS", 0.1)
    # exp is whole seconds, so the real lifetime is 3-4 s: time enough to log in and connect.
    client = await make_client(jwt_ttl_seconds=4)
    alice = await UserFactory(client).make("alice")
    of_session = await alice.connect()
    short_token, _ = issue_token(alice.id, settings.jwt_secret, 4)
    short = Socket(await client.ws_connect("/ws", headers={"Authorization": f"Bearer {short_token}"}))
    long_token, _ = issue_token(alice.id, settings.jwt_secret, 3600)
    long = Socket(await client.ws_connect("/ws", headers={"Authorization": f"Bearer {long_token}"}))
    assert (await short.request("ping"))["code"] == 200

    code, _ = await receive_close(short, TIMEOUT)
    assert code == 1008
    assert (await long.request("ping"))["code"] == 200
    assert (await of_session.request("ping"))["code"] == 200


# --- SIGTERM ------------------------------------------------------------------------------------


async def wait_until_serving(session: aiohttp.ClientSession, proc: subprocess.Popen, log: Path) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise AssertionError(f"hubbub serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            async with session.get("/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"hubbub serve did not answer:\n{log.read_text()}")


async def test_sigterm_closes_every_socket_1001_and_every_stored_message_was_acked(engine, database_url, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "HUBBUB_ENV": "testing",
        "HUBBUB_DATABASE_URL": database_url,
        "HUBBUB_UPLOAD_DIR": str(tmp_path / "uploads"),
        "HUBBUB_LOG_LEVEL": "INFO",  # so the access log is written and can be checked for tokens
    }
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen([*hubbub_command(), "serve", "--port", str(port)], env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            await wait_until_serving(session, proc, log)
            factory = UserFactory(session)
            alice, bob = await factory.make("alice"), await factory.make("bob")
            sockets = [await alice.connect(), await alice.connect(), await bob.connect()]
            sockets.append(Socket(await session.ws_connect("/ws", params={"token": bob.token})))
            for s in sockets:
                assert (await s.request("ping"))["code"] == 200
            peers = [bob.id, bob.id, alice.id, alice.id]

            # A burst on every socket, not waiting for replies; SIGTERM once the first are in.
            sent: dict[str, str] = {}
            for n in range(30):
                for i, (s, peer) in enumerate(zip(sockets, peers)):
                    frame_id = f"s{i}-{n}"
                    sent[frame_id] = f"message {frame_id}"
                    await s.send("send_message", {"receiver_id": peer, "content": sent[frame_id]}, frame_id=frame_id)
            first = await sockets[0].reply(TIMEOUT)
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()

            results = await asyncio.gather(*(receive_close(s, 5) for s in sockets))
            elapsed = time.monotonic() - signalled
            acked: dict[int, str] = {}
            for code, frames in [(None, [first])] + list(results):
                for frame in frames:
                    if frame["type"] == "reply" and frame["code"] in (200, 201):
                        acked[frame["data"]["id"]] = sent[frame["id"]]
            codes = [code for code, _ in results]
        assert codes == [1001] * len(sockets), codes
        assert elapsed < 2.5, f"sockets closed {elapsed:.2f}s after SIGTERM"
        assert proc.wait(timeout=15) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # Every acknowledged message is stored, with its content.
    assert acked
    async with engine.connect() as conn:
        rows = (await conn.execute(select(messages.c.id, messages.c.content, messages.c.conversation_id, messages.c.seq))).all()
    stored = {row.id: row.content for row in rows}
    missing = {mid: content for mid, content in acked.items() if stored.get(mid) != content}
    assert not missing, missing
    # ... and every stored message was acknowledged: a frame the reader took while shutdown
    # was under way would commit with its reply dropped (the contract says: unreplied = not handled).
    unreplied = sorted(set(stored) - set(acked))
    assert not unreplied, f"{len(unreplied)} of {len(stored)} stored messages got no reply"
    # What did commit (acked or not) is whole: one conversation, seqs 1..N without a gap.
    assert len({row.conversation_id for row in rows}) == 1
    assert sorted(row.seq for row in rows) == list(range(1, len(rows) + 1))

    output = log.read_text()
    assert "token=REDACTED" in output, output
    assert alice.token not in output and bob.token not in output
