"""`message.new` reaches every socket in seq order, each seq once, however many transactions
commit at once (issue 11, defect 1): seqs follow the order in which transactions take the
conversation's row lock, which need not be the order in which they were started or finish."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

import handlers.services.message_writer as message_writer
from server.app import create_app
from server.keys import SERVICES
from storage.engine import create_engine
from storage.messages import NewMessage
from storage.tables import MSG_TEXT
from tests.chat import UserFactory, online, take

pytestmark = pytest.mark.mysql


async def group(owner, name: str, *members) -> int:
    data = await owner.ok("POST", "/api/conversations", json={"type": "group", "name": name, "member_ids": [m.id for m in members]})
    return data["id"]


async def test_a_batch_started_first_but_committed_second_is_pushed_second(client, users, database_url):
    """Batch B (to X and Y) waits for X's row lock; batch A (to Y) starts later and commits first,
    taking Y's lower seq. Pushed in the order the batches started, Y's watcher saw seq n+1
    before n."""
    alice, bob, carol = await users.make("alice"), await users.make("bob"), await users.make("carol")
    x = await group(alice, "x", bob)
    y = await group(alice, "y", bob, carol)
    assert x < y  # a batch locks in id order: B holds nothing of Y while it waits for X
    (watcher,) = await online(carol)
    for _ in range(2):
        assert (await (await alice.connect()).request("send_message", {"conversation_id": y, "content": "warm-up"}))["code"] == 201
    assert [m["seq"] for m in await take(watcher, "message.new")] == [1, 2]

    writer = client.server.app[SERVICES].messaging._writer
    blocker = create_engine(database_url)
    try:
        async with blocker.connect() as lock_conn:
            await lock_conn.begin()
            await lock_conn.execute(text("SELECT id FROM conversations WHERE id = :id FOR UPDATE"), {"id": x})
            # Queued in one tick, so they form one batch.
            batch_b = [
                asyncio.create_task(writer.write(NewMessage(x, alice.id, None, "b to x", MSG_TEXT, None), None)),
                asyncio.create_task(writer.write(NewMessage(y, alice.id, None, "b to y", MSG_TEXT, None), None)),
            ]
            await asyncio.sleep(0.3)
            batch_a = asyncio.create_task(writer.write(NewMessage(y, bob.id, None, "a to y", MSG_TEXT, None), None))
            async with blocker.connect() as probe:
                for _ in range(200):  # until A has committed, while B still waits
                    if await probe.scalar(text("SELECT last_seq FROM conversations WHERE id = :id"), {"id": y}) == 3:
                        break
                    await probe.rollback()
                    await asyncio.sleep(0.01)
            await lock_conn.rollback()
        results = await asyncio.wait_for(asyncio.gather(batch_a, *batch_b), 10)
    finally:
        await blocker.dispose()
    assert [vo["seq"] for vo, _ in results] == [3, 1, 4]

    pushed = await take(watcher, "message.new")
    assert [(m["seq"], m["content"]) for m in pushed] == [(3, "a to y"), (4, "b to y")]


@pytest.fixture
async def busy_client(settings, engine, aiohttp_client, monkeypatch):
    """A server whose writer keeps four transactions in flight."""
    monkeypatch.setattr(message_writer, "IN_FLIGHT", 4)
    return await aiohttp_client(create_app(settings))


async def test_every_socket_gets_every_seq_once_in_order_under_concurrent_senders(busy_client):
    factory = UserFactory(busy_client)
    people = [await factory.make(f"user{n}") for n in range(6)]
    conversation = await group(people[0], "busy", *people[1:])
    sockets = [(await online(person, 2)) for person in people]
    per_sender = 30

    async def burst(person_sockets, person) -> list[int]:
        sender = person_sockets[0]
        for n in range(per_sender):
            await sender.send("send_message", {"conversation_id": conversation, "content": f"{person.username} {n}"}, frame_id=f"m{n}")
        replies = [await sender.reply(10) for _ in range(per_sender)]
        assert all(r["code"] == 201 for r in replies), replies
        return [r["data"]["seq"] for r in replies]

    own = await asyncio.gather(*(burst(s, p) for s, p in zip(sockets, people)))
    total = per_sender * len(people)
    assert sorted(seq for seqs in own for seq in seqs) == list(range(1, total + 1))

    for person_sockets, mine in zip(sockets, own):
        sender, other_device = person_sockets
        # The sending socket: others' messages as pushes, its own as replies; one ordered stream.
        pushed = [m["seq"] for m in await take(sender, "message.new")]
        assert pushed == sorted(pushed), "pushes out of seq order"
        assert sorted(pushed + mine) == list(range(1, total + 1))
        # Another device of the sender gets everything, its own messages included.
        everything = [m["seq"] for m in await take(other_device, "message.new")]
        assert everything == list(range(1, total + 1))
