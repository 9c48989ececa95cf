"""The tracker's fast path (issue 7 Part 3): a frame goes straight to the transport when its
socket has nothing queued and is not paused, and through the socket's queue and writer task
otherwise; an idle socket holds no writer task, queue or event.

Real server on a loopback port (in this process, so the test can look at the tracker's
`Connection` objects), real client sockets, a fresh MariaDB database per test. A client that
must back up into the server gets a small kernel receive buffer and stops reading."""

from __future__ import annotations

import asyncio
import json
import socket
import struct

import aiohttp
import pytest
from aiohttp import WSMsgType

import server.tracker
from server.app import create_app
from server.keys import TRACKER
from server.tracker import Connection
from tests.chat import Socket, UserFactory

TIMEOUT = 10
PAD = "x" * 256 * 1024  # a push big enough to back a stalled reader up quickly


@pytest.fixture
def make_client(settings, engine, aiohttp_client):
    async def make(**overrides):
        overrides = {"ws_rate_per_second": 100_000, "ws_rate_burst": 100_000, **overrides}
        return await aiohttp_client(create_app(settings.replace(**overrides)))

    return make


def small_receive_buffer(addr_info):
    """A client socket with a small kernel receive buffer (set before connecting)."""
    family, type_, proto, _, _ = addr_info
    sock = socket.socket(family=family, type=type_, proto=proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return sock


@pytest.fixture
async def slow_session():
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(socket_factory=small_receive_buffer))
    yield session
    await session.close()


def payload_of(frame: bytes) -> dict:
    """The JSON of one unmasked server text frame, checking its header."""
    assert frame[0] == 0x81, frame[:2]  # FIN + text, no RSV bits
    marker = frame[1]
    assert not marker & 0x80  # unmasked
    if marker < 126:
        length, offset = marker, 2
    elif marker == 126:
        (length,), offset = struct.unpack_from("!H", frame, 2), 4
    else:
        (length,), offset = struct.unpack_from("!Q", frame, 2), 10
    assert len(frame) == offset + length
    return json.loads(frame[offset:])


class Recorder:
    """Records, in order, every frame the server hands to one socket, and whether it went
    straight to the transport (no writer task, not paused) or through the queue."""

    def __init__(self, monkeypatch) -> None:
        self.target: Connection | None = None
        self.frames: list[dict] = []
        self.direct = 0
        self.queued = 0
        original = Connection.send_frame

        def recording_send_frame(conn: Connection, frame: bytes) -> None:
            if conn is self.target and not conn.closing:
                if conn._writer is None and not conn._protocol.writing_paused:
                    self.direct += 1
                else:
                    self.queued += 1
                self.frames.append(payload_of(frame))
            original(conn, frame)

        monkeypatch.setattr(Connection, "send_frame", recording_send_frame)

    async def wait_for_reply(self, frame_id: str) -> None:
        for _ in range(TIMEOUT * 200):
            if any(f["type"] == "reply" and f["id"] == frame_id for f in self.frames):
                return
            await asyncio.sleep(0.002)
        raise AssertionError(f"the server queued no reply to {frame_id}")

    async def wait_for(self, count: int) -> None:
        for _ in range(TIMEOUT * 200):
            if len(self.frames) >= count:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"the server queued {len(self.frames)} frames, expected {count}")


async def connected(tracker, user, session: aiohttp.ClientSession | None = None) -> tuple[Socket, Connection]:
    """A socket of `user` (through `session` when given) and the tracker's Connection for it."""
    before = set(tracker.sockets_of(user.id))
    if session is None:
        sock = await user.connect()
    else:
        sock = Socket(await session.ws_connect(user.client.make_url("/ws"), headers=user.auth))
    assert (await sock.request("ping"))["code"] == 200
    (conn,) = set(tracker.sockets_of(user.id)) - before
    return sock, conn


def pause(tracker, conn: Connection, user_id: int) -> int:
    """Push pads to a socket whose client reads nothing until its transport is paused."""
    for n in range(200):
        if conn._protocol.writing_paused:
            return n
        tracker.to_users([user_id], "test.pad", {"n": n, "pad": PAD})
    raise AssertionError("the transport never paused")


async def read_frames(sock: Socket, count: int) -> list[dict]:
    frames = []
    for _ in range(count):
        msg = await sock.ws.receive(timeout=TIMEOUT)
        assert msg.type == WSMsgType.TEXT, (msg.type, msg.data, len(frames))
        frames.append(json.loads(msg.data))
    return frames


async def writer_gone(conn: Connection) -> None:
    for _ in range(TIMEOUT * 100):
        if conn._writer is None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the writer task never ended")


def writer_tasks(user_id: int) -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == f"ws-writer-user-{user_id}" and not t.done()]


# --- idle sockets -------------------------------------------------------------------------------


async def test_idle_socket_holds_no_writer_task_queue_or_event(make_client):
    client = await make_client()
    tracker = client.server.app[TRACKER]
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    a, conn = await connected(tracker, alice)
    b, _ = await connected(tracker, bob)

    def assert_idle() -> None:
        assert conn._writer is None
        assert not conn._pending  # never made, or empty
        assert not writer_tasks(alice.id)
        assert not hasattr(conn, "__dict__")  # __slots__
        held = [getattr(conn, name) for name in Connection.__slots__]
        assert not [v for v in held if isinstance(v, (asyncio.Task, asyncio.Queue, asyncio.Event))], held

    assert_idle()
    assert conn._pending is None  # a socket that only ever got direct writes made no queue
    # Replies and pushes to a socket that reads go straight out: still nothing is made.
    for n in range(20):
        reply = await b.request("send_message", {"receiver_id": alice.id, "content": f"m{n}"})
        assert reply["code"] == 201, reply
        assert (await a.event("message.new", TIMEOUT))["data"]["id"] == reply["data"]["id"]
        assert (await a.request("ping"))["code"] == 200
    assert_idle()
    assert conn._pending is None


# --- a paused transport -------------------------------------------------------------------------


async def test_paused_transport_routes_through_the_queue_then_direct_again(make_client, slow_session, monkeypatch):
    client = await make_client(ws_send_queue_max=1000)
    tracker = client.server.app[TRACKER]
    alice = await UserFactory(client).make("alice")
    recorder = Recorder(monkeypatch)
    a, conn = await connected(tracker, alice, slow_session)
    recorder.target = conn

    pads = pause(tracker, conn, alice.id)
    assert pads >= 1 and conn._protocol.writing_paused
    assert recorder.queued == 0 and recorder.direct == pads  # it took that many direct writes
    for n in range(10):
        tracker.to_users([alice.id], "test.marker", {"n": n})
    # Paused: all ten wait in the socket's queue, for its writer task.
    assert recorder.queued == 10
    assert conn._writer is not None and writer_tasks(alice.id) == [conn._writer]
    assert [f.__class__ for f in conn._pending] == [bytes] * 10
    await asyncio.sleep(0.2)  # the writer runs, finds the transport paused, and waits
    assert len(conn._pending) == 10 and conn._writer is not None
    # A reply queues behind them too.
    await a.send("ping", frame_id="behind")
    await recorder.wait_for(pads + 11)
    assert recorder.queued == 11 and len(conn._pending) == 11

    # The client reads again: everything arrives whole and in the order it was queued.
    received = await read_frames(a, pads + 11)
    assert received == recorder.frames
    assert [f["data"]["n"] for f in received if f["type"] == "test.pad"] == list(range(pads))
    assert [f["data"]["n"] for f in received if f["type"] == "test.marker"] == list(range(10))
    assert (received[-1]["type"], received[-1]["id"], received[-1]["code"]) == ("reply", "behind", 200)

    # With the queue written, the writer task ends and frames go direct again.
    await writer_gone(conn)
    assert not conn._pending and not writer_tasks(alice.id)
    before = recorder.direct
    tracker.to_users([alice.id], "test.marker", {"n": 10})
    assert conn._writer is None and recorder.direct == before + 1
    assert (await read_frames(a, 1))[0] == {"type": "test.marker", "data": {"n": 10}}
    assert (await a.request("ping"))["code"] == 200


async def test_frame_sent_as_the_transport_resumes_waits_behind_the_queue(make_client, slow_session, monkeypatch):
    """The moment the transport resumes (the peer read), frames are still queued and their
    writer task has not run yet: a frame sent right then must queue behind them, not jump
    ahead by being written directly."""
    client = await make_client(ws_send_queue_max=1000)
    tracker = client.server.app[TRACKER]
    alice = await UserFactory(client).make("alice")
    recorder = Recorder(monkeypatch)
    a, conn = await connected(tracker, alice, slow_session)
    recorder.target = conn
    protocol_class = type(conn._protocol)
    original_resume = protocol_class.resume_writing
    queued_at_resume: list[int] = []

    def resume_then_send(protocol) -> None:
        original_resume(protocol)
        if protocol is conn._protocol:
            queued_at_resume.append(len(conn._pending or ()))
            tracker.to_users([alice.id], "test.on_resume", {"n": len(queued_at_resume)})

    monkeypatch.setattr(protocol_class, "resume_writing", resume_then_send)
    pads = pause(tracker, conn, alice.id)
    for n in range(10):
        tracker.to_users([alice.id], "test.marker", {"n": n})
    received = await read_frames(a, pads + 11)
    assert queued_at_resume and queued_at_resume[0] == 10  # the writer had not had its turn yet
    await writer_gone(conn)
    received += await read_frames(a, len(recorder.frames) - len(received))
    assert received == recorder.frames
    types = [f["type"] for f in received]
    assert types.index("test.on_resume") > max(i for i, t in enumerate(types) if t == "test.marker")


async def test_full_queue_behind_a_paused_transport_closes_1013(make_client, slow_session, monkeypatch):
    monkeypatch.setattr(server.tracker, "CLOSE_WAIT_SECONDS", 30)  # the test reads only afterwards
    client = await make_client(ws_send_queue_max=5)
    tracker = client.server.app[TRACKER]
    alice = await UserFactory(client).make("alice")
    a, conn = await connected(tracker, alice, slow_session)
    pads = pause(tracker, conn, alice.id)
    for n in range(5):
        tracker.to_users([alice.id], "test.marker", {"n": n})
    assert not conn.closing and len(conn._pending) == 5
    tracker.to_users([alice.id], "test.marker", {"n": 5})  # the sixth does not fit
    assert conn.closing

    frames = []
    while True:
        msg = await a.ws.receive(timeout=TIMEOUT)
        if msg.type != WSMsgType.TEXT:
            break
        frames.append(json.loads(msg.data))
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), msg
    assert a.ws.close_code == 1013
    # What was on the wire arrives; what was queued is dropped, not delivered late.
    assert [f["data"]["n"] for f in frames] == list(range(pads))
    assert all(f["type"] == "test.pad" for f in frames)


# --- order under mixed direct and queued writes -----------------------------------------------


async def test_replies_and_pushes_keep_their_order_across_direct_and_queued_writes(make_client, slow_session, monkeypatch):
    """Alice's replies and bob's pushes to her alternate, each queued by the server before the
    next is caused (so seqs ascend in the order the server queued them), while alice's socket
    goes from direct writes to paused and queued, drains while more frames come, and back."""
    client = await make_client(ws_send_queue_max=10_000)
    tracker = client.server.app[TRACKER]
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    recorder = Recorder(monkeypatch)
    a, conn = await connected(tracker, alice, slow_session)
    b, _ = await connected(tracker, bob)
    recorder.target = conn
    received: list[dict] = []
    sent_by_alice = 0

    async def alice_sends() -> None:
        nonlocal sent_by_alice
        sent_by_alice += 1
        frame_id = f"a{sent_by_alice}"
        await a.send("send_message", {"receiver_id": bob.id, "content": f"from alice {sent_by_alice}"}, frame_id=frame_id)
        await recorder.wait_for_reply(frame_id)  # her reply is queued before anything else happens

    async def bob_sends(n: int) -> None:
        count = len(recorder.frames)
        reply = await b.request("send_message", {"receiver_id": alice.id, "content": f"from bob {n}"})
        assert reply["code"] == 201, reply
        # The push to alice (and a message.read, when bob answers her) was queued before bob's reply.
        assert recorder.frames[count]["type"] == "message.new" and recorder.frames[count]["data"]["seq"] == reply["data"]["seq"]

    async def alternate(rounds: int, start: int) -> None:
        for n in range(start, start + rounds):
            await alice_sends()
            await bob_sends(n)

    async def read_all() -> None:
        received.extend(await read_frames(a, len(recorder.frames) - len(received)))

    # 1. alice reads as it comes: direct writes.
    await alternate(10, 0)
    await read_all()
    assert conn._writer is None and recorder.queued == 0
    # 2. alice stops reading and backs up: from the pause on, everything queues.
    pause(tracker, conn, alice.id)
    direct_before, queued_before = recorder.direct, recorder.queued
    await alternate(10, 10)
    assert recorder.direct == direct_before and recorder.queued >= queued_before + 20 and conn._writer is not None
    # 3. alice reads again while the alternation goes on: the queue drains, the writer task
    #    ends, and frames go direct again behind it.
    direct_before = recorder.direct
    stop = asyncio.Event()

    async def keep_reading() -> None:
        while not (stop.is_set() and len(received) >= len(recorder.frames)):
            try:
                msg = await a.ws.receive(timeout=0.2)
            except asyncio.TimeoutError:
                continue
            assert msg.type == WSMsgType.TEXT, msg
            received.append(json.loads(msg.data))

    reader = asyncio.create_task(keep_reading())
    await alternate(30, 20)
    await writer_gone(conn)
    await alternate(5, 50)
    stop.set()
    await asyncio.wait_for(reader, TIMEOUT)
    assert recorder.direct > direct_before
    # 4. and once more: paused and queued, then read.
    pause(tracker, conn, alice.id)
    await alternate(10, 55)
    await read_all()
    await writer_gone(conn)

    assert recorder.direct > 0 and recorder.queued > 0
    # What alice received is exactly what the server queued for her, in that order.
    assert len(received) == len(recorder.frames)
    assert received == recorder.frames
    # Seqs of replies and pushes together ascend: 1..130 without a gap.
    seqs = [f["data"]["seq"] for f in received if f["type"] == "message.new" or (f["type"] == "reply" and f.get("code") == 201)]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) == 130
    assert [f["id"] for f in received if f["type"] == "reply"] == [f"a{n}" for n in range(1, 66)]


# --- shutdown -----------------------------------------------------------------------------------


async def test_shutdown_close_waits_for_the_queue_then_sends_1001_last(make_client, slow_session):
    """`finish_and_close` (SIGTERM) lets what is queued behind a paused transport go out first,
    then the close frame; nothing is written after it."""
    client = await make_client(ws_send_queue_max=1000)
    tracker = client.server.app[TRACKER]
    alice = await UserFactory(client).make("alice")
    a, conn = await connected(tracker, alice, slow_session)
    pads = pause(tracker, conn, alice.id)
    for n in range(10):
        tracker.to_users([alice.id], "test.marker", {"n": n})
    assert conn._writer is not None
    closing = asyncio.create_task(conn.finish_and_close(server.tracker.CLOSE_GOING_AWAY, "server shutting down", TIMEOUT))
    await asyncio.sleep(0.1)
    assert not conn.closing  # still waiting for the queue to be written
    frames = []
    while True:
        msg = await a.ws.receive(timeout=TIMEOUT)
        if msg.type != WSMsgType.TEXT:
            break
        frames.append(json.loads(msg.data))
    assert a.ws.close_code == 1001
    assert [f["type"] for f in frames] == ["test.pad"] * pads + ["test.marker"] * 10
    await asyncio.wait_for(closing, TIMEOUT)
    tracker.to_users([alice.id], "test.after", {})  # dropped: the socket is closed
    assert conn._writer is None and not conn._pending
