"""Three `hubbub serve` processes sharing one MariaDB database and a real nats-server (issue 13):
a socket hears of every message whichever process committed it, once and in seq order, also
when publishes are late or lost, when a process is killed and when NATS goes away."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import nats as nats_client
import orjson
import pytest

from server.nats_bus import PUSH_SUBJECT, NatsBus
from settings import SettingsError, load_settings
from tests.chat import ChatUser, Socket, UserFactory, online
from tests.cluster import NATS_SERVER, NatsServer, Node, free_port, hubbub_command, node_env

pytestmark = [
    pytest.mark.mysql,
    pytest.mark.skipif(not Path(NATS_SERVER).exists(), reason="nats-server is not installed (tests/run.sh installs it)"),
]


@pytest.fixture
async def nats(tmp_path):
    server = NatsServer(tmp_path / "nats.log")
    await server.start()
    yield server
    server.stop()


@pytest.fixture
async def start_cluster(engine, database_url, nats, tmp_path):
    """`await start_cluster(n, {index: settings})`: n nodes on the test's database and NATS."""
    nodes: list[Node] = []

    async def start(count: int = 3, settings: dict[int, dict] | None = None) -> list[Node]:
        for index in range(count):
            env = node_env(database_url, nats.url, tmp_path / "uploads", **(settings or {}).get(index, {}))
            nodes.append(Node(index, env, tmp_path / f"node{index}.log"))
        await asyncio.gather(*(node.start() for node in nodes))
        await until_connected(nodes)
        return nodes

    yield start
    for node in nodes:
        await node.close()


async def until_connected(nodes: list[Node], timeout: float = 10) -> None:
    """Until each node has heard every other's heartbeat (they see each other's users)."""
    deadline = time.monotonic() + timeout
    for node in nodes:
        while "cluster bus connected" not in node.log_text():
            assert time.monotonic() < deadline, node.log_text()
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.2)  # two heartbeats


def on(user: ChatUser, node: Node) -> ChatUser:
    """The same user (and token) talking to another node."""
    return ChatUser(node.session, user.id, user.username, user.token)


async def group(owner: ChatUser, *members: ChatUser) -> int:
    data = await owner.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [m.id for m in members]})
    return data["id"]


async def seqs_until(socket: Socket, conversation_id: int, count: int, timeout: float = 10) -> list[int]:
    """The seqs of the first `count` `message.new` of the conversation, in arrival order."""
    seqs = [m["data"]["seq"] for m in socket.events if m["type"] == "message.new" and m["data"]["conversation_id"] == conversation_id]
    socket.events[:] = [m for m in socket.events if m["type"] != "message.new"]
    deadline = time.monotonic() + timeout
    while len(seqs) < count:
        frame = await socket.receive(max(0.01, deadline - time.monotonic()))
        if frame["type"] == "message.new" and frame["data"]["conversation_id"] == conversation_id:
            seqs.append(frame["data"]["seq"])
    return seqs


async def send_all(socket: Socket, conversation_id: int, count: int, tag: str) -> list[int]:
    """Send `count` messages without waiting in between; the seqs of their replies."""
    for n in range(count):
        await socket.send("send_message", {"conversation_id": conversation_id, "content": f"{tag} {n}", "client_msg_id": f"{tag}-{n}"}, frame_id=f"{tag}-{n}")
    replies = [await socket.reply(15) for _ in range(count)]
    assert all(r["code"] == 201 for r in replies), replies
    return [r["data"]["seq"] for r in replies]


async def test_a_message_sent_on_one_node_reaches_sockets_on_the_others_once_in_order(start_cluster):
    one, two, three = await start_cluster(3)
    alice = await UserFactory(one.session).make("alice")
    bob = await UserFactory(two.session).make("bob")
    conversation = await group(alice, bob)
    (sender,) = await online(alice)
    bob_two, bob_three = (await online(on(bob, two)))[0], (await online(on(bob, three)))[0]
    alice_three = (await online(on(alice, three)))[0]

    mine = await send_all(sender, conversation, 20, "a")
    assert mine == list(range(1, 21))
    for socket in (bob_two, bob_three, alice_three):
        assert await seqs_until(socket, conversation, 20) == list(range(1, 21))
        await socket.no_event("message.new", 0.5)  # and nothing twice
    await sender.no_event("message.new", 0.3)  # never echoed to the sending socket


async def test_ten_senders_spread_over_three_nodes_give_every_socket_every_seq_once_in_order(start_cluster):
    nodes = await start_cluster(3)
    people = [await UserFactory(nodes[n % 3].session).make(f"user{n}") for n in range(10)]
    conversation = await group(people[0], *people[1:])
    senders = [(await online(person))[0] for person in people]
    watchers = [(await online(on(person, nodes[(n + 1) % 3])))[0] for n, person in enumerate(people[:3])]
    per_sender = 12
    total = per_sender * len(people)

    own = await asyncio.gather(*(send_all(s, conversation, per_sender, p.username) for s, p in zip(senders, people)))
    assert sorted(seq for seqs in own for seq in seqs) == list(range(1, total + 1))
    for watcher in watchers:
        assert await seqs_until(watcher, conversation, total, timeout=20) == list(range(1, total + 1))
    for sender, mine in zip(senders, own):
        pushed = await seqs_until(sender, conversation, total - per_sender, timeout=20)
        assert pushed == sorted(pushed)
        assert sorted(pushed + mine) == list(range(1, total + 1))


async def test_late_and_lost_publishes_are_repaired_in_order(start_cluster):
    """Node 0 holds every publish back 150 ms (its seqs arrive after later ones from node 1);
    node 1 drops every third publish (found as a gap, or as a lost tail by its heartbeat)."""
    nodes = await start_cluster(3, {0: {"bus_test_delay_seconds": 0.15}, 1: {"bus_test_drop_every": 3}})
    alice = await UserFactory(nodes[0].session).make("alice")
    bob = await UserFactory(nodes[1].session).make("bob")
    carol = await UserFactory(nodes[2].session).make("carol")
    conversation = await group(alice, bob, carol)
    (a,), (b,) = await online(alice), await online(bob)
    (watcher,) = await online(carol)

    async def alternate(socket: Socket, tag: str) -> list[int]:
        seqs = []
        for n in range(15):
            seqs += await send_all(socket, conversation, 1, f"{tag}{n}")
            await asyncio.sleep(0.01)
        return seqs

    await asyncio.gather(alternate(a, "a"), alternate(b, "b"))
    assert await seqs_until(watcher, conversation, 30, timeout=15) == list(range(1, 31))
    await watcher.no_event("message.new", 1.0)


async def test_a_killed_node_s_users_go_offline_elsewhere_and_its_clients_catch_up_on_another(start_cluster):
    one, two = await start_cluster(2)
    alice = await UserFactory(one.session).make("alice")
    bob = await UserFactory(two.session).make("bob")
    conversation = await group(alice, bob)
    (watcher,) = await online(alice)
    (bob_socket,) = await online(bob)
    came = await watcher.event("presence", timeout=5)  # announced across the bus by node two
    assert came["data"]["user_id"] == bob.id and came["data"]["online"] is True
    status, body = await alice.call("GET", f"/api/users/{bob.id}")
    assert body["data"]["online"] is True, body

    two.kill()  # SIGKILL: no goodbye
    killed = time.monotonic()
    event = await watcher.event("presence", timeout=10)
    assert event["data"] == {"user_id": bob.id, "online": False, "last_seen": event["data"]["last_seen"]}
    assert time.monotonic() - killed < 6  # the node timeout (3 s here) plus a check period

    # Bob's client reconnects to node one and catches up on what it missed.
    await send_all(watcher, conversation, 3, "while-away")
    bob_one = (await online(on(bob, one)))[0]
    history = await bob_one.request("history", {"conversation_id": conversation, "after": 0})
    assert [m["seq"] for m in history["data"]] == [1, 2, 3]


async def test_nats_outage_loses_nothing_and_repeats_nothing(start_cluster, nats):
    one, two = await start_cluster(2)
    alice = await UserFactory(one.session).make("alice")
    bob = await UserFactory(two.session).make("bob")
    conversation = await group(alice, bob)
    (sender,) = await online(alice)
    (alice_one_watcher,) = await online(alice)
    (remote,) = await online(bob)

    assert await send_all(sender, conversation, 5, "before") == [1, 2, 3, 4, 5]
    assert await seqs_until(remote, conversation, 5) == [1, 2, 3, 4, 5]

    nats.stop()
    await asyncio.sleep(0.5)
    # Sends still commit and reply; sockets on the same node still get pushes.
    assert await send_all(sender, conversation, 5, "during") == [6, 7, 8, 9, 10]
    assert await seqs_until(alice_one_watcher, conversation, 10) == list(range(1, 11))
    health = await (await one.session.get("/readyz")).json()
    assert health["data"]["bus"] == "degraded", health

    await nats.start()
    # Node two catches its socket up from the database: 6..10 once, in order.
    assert await seqs_until(remote, conversation, 5, timeout=15) == [6, 7, 8, 9, 10]
    assert await send_all(sender, conversation, 2, "after") == [11, 12]
    assert await seqs_until(remote, conversation, 2, timeout=10) == [11, 12]
    await remote.no_event("message.new", 1.0)


async def test_logout_on_one_node_closes_that_token_s_socket_on_another(start_cluster):
    one, two = await start_cluster(2)
    alice = await UserFactory(one.session).make("alice")
    (remote,) = await online(on(alice, two))
    assert (await alice.call("POST", "/api/auth/logout"))[0] == 200
    msg = await remote.ws.receive(timeout=5)
    assert remote.ws.close_code == 1008, msg


async def test_workers_share_one_port_and_one_bus(engine, database_url, nats, tmp_path):
    """`hubbub serve --workers 2`: two processes on one port; a message sent through one worker
    reaches a socket held by the other (sockets are spread by the kernel, so open several)."""
    port = free_port()
    env = node_env(database_url, nats.url, tmp_path / "uploads")
    log = tmp_path / "workers.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*hubbub_command(), "serve", "--port", str(port), "--workers", "2"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            for _ in range(100):
                if log.read_text().count("cluster bus connected") >= 2:
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(log.read_text())
            await asyncio.sleep(1.2)
            factory = UserFactory(session)
            alice, bob = await factory.make("alice"), await factory.make("bob")
            conversation = await group(alice, bob)
            receivers = await online(bob, 6)
            (sender,) = await online(alice)
            await send_all(sender, conversation, 3, "w")
            for receiver in receivers:
                assert await seqs_until(receiver, conversation, 3) == [1, 2, 3]
        node_ids = {line.split()[-1] for line in log.read_text().splitlines() if "cluster bus connected" in line}
        assert len(node_ids) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, log.read_text()


def test_workers_above_one_need_a_bus(tmp_path):
    env = {**os.environ, "HUBBUB_ENV": "testing", "HUBBUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'h.db'}"}
    result = subprocess.run([*hubbub_command(), "serve", "--workers", "2"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "needs a cluster bus: set bus_url" in result.stderr


def test_a_cluster_refuses_sqlite_and_production_refuses_test_faults():
    with pytest.raises(SettingsError, match="SQLite"):
        load_settings("testing", bus_url="nats://127.0.0.1:4222", database_url="sqlite+aiosqlite:///x.db")
    with pytest.raises(SettingsError, match="test-only"):
        load_settings("production", database_url="mysql+aiomysql://u:p@h/db", jwt_secret="x" * 40, bus_test_drop_every=2)


async def test_a_logout_missed_during_a_nats_outage_closes_the_socket_when_the_bus_is_back(start_cluster, nats):
    one, two = await start_cluster(2)
    alice = await UserFactory(one.session).make("alice")
    (remote,) = await online(on(alice, two))
    nats.stop()
    await asyncio.sleep(0.5)
    assert (await alice.call("POST", "/api/auth/logout"))[0] == 200  # its news is lost
    await asyncio.sleep(0.5)
    assert (await remote.request("ping"))["code"] == 200  # node two has not heard of it
    await nats.start()
    msg = await remote.ws.receive(timeout=15)
    assert msg.data == 1008, msg  # re-checked against the database once the bus was back


class RecordingReceiver:
    """Stands where a process's delivery does: counts what the bus hands over."""

    def __init__(self) -> None:
        self.records = 0
        self.resumed: list[float] = []

    def remote_to_users(self, user_ids, event, data) -> None:
        self.records += 1

    def remote_in_seq_order(self, push) -> None:
        self.records += 1

    def remote_presence(self, node, user_id, online) -> None:
        pass

    def remote_close(self, token_id, user_id) -> None:
        pass

    def remote_node(self, node, online, recent_seqs) -> None:
        pass

    def local_node_state(self):
        return [], {}

    def bus_resumed(self, missed_since: float) -> None:
        self.resumed.append(missed_since)


async def test_a_slow_consumer_drop_makes_the_process_catch_up(nats):
    """NATS drops messages a process reads too slowly; the client says so, and the process
    catches up from the database as after an outage, never leaving a silent hole."""
    receiver = RecordingReceiver()
    bus = NatsBus(nats.url, pending_msgs_limit=10)
    await bus.start(receiver)
    try:
        deadline = time.monotonic() + 10
        while not bus.connected:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        receiver.resumed.clear()  # the first connect catches up too (on what came before it)
        publisher = await nats_client.connect(nats.url)
        try:
            for n in range(2000):
                await publisher.publish(PUSH_SUBJECT, orjson.dumps([["u", [1], "ping", {"n": n}]]))
            await publisher.flush()
        finally:
            await publisher.close()
        while not receiver.resumed:
            assert time.monotonic() < deadline, f"no catch-up after a burst ({receiver.records} of 2000 handled)"
            await asyncio.sleep(0.01)
        assert receiver.records < 2000  # some were dropped: the catch-up was needed
    finally:
        await bus.close()
