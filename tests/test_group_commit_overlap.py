"""When the group commit starts a second transaction while one runs (bench/FINDINGS.md, fifth
part): not for a send or two, which wait and share the next transaction, but behind a backlog of
OVERLAP_BACKLOG sends, or once the running one has taken OVERLAP_AFTER_SECONDS. The running
transaction is held by a row lock of another connection. MySQL/MariaDB: SQLite has one writer
at a time."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

import handlers.services.message_writer as message_writer
from handlers.metrics import COMMIT_BATCH_SIZE
from server.keys import SERVICES
from storage.engine import create_engine
from storage.messages import NewMessage
from storage.tables import MSG_TEXT

pytestmark = pytest.mark.mysql

SETTLE_SECONDS = 0.3  # ample for an unstalled transaction to commit on loopback


def batches_committed() -> float:
    """How many group-commit transactions this process has committed so far."""
    return next(sample.value for metric in COMMIT_BATCH_SIZE.collect() for sample in metric.samples if sample.name.endswith("_count"))


async def groups(owner, *members, count: int) -> list[int]:
    ids = []
    for n in range(count):
        data = await owner.ok("POST", "/api/conversations", json={"type": "group", "name": f"g{n}", "member_ids": [m.id for m in members]})
        ids.append(data["id"])
    return ids


@pytest.fixture
async def stalled(client, users, database_url):
    """(writer, alice, conversations, stall): `stall()` starts a send to the first conversation
    whose transaction waits on that conversation's row lock, held here until the test ends;
    the other conversations are free."""
    alice, bob = await users.make("alice"), await users.make("bob")
    ids = await groups(alice, bob, count=10)
    writer = client.server.app[SERVICES].messaging._writer
    blocker = create_engine(database_url)
    lock_conn = await blocker.connect()
    await lock_conn.begin()
    await lock_conn.execute(text("SELECT id FROM conversations WHERE id = :id FOR UPDATE"), {"id": ids[0]})

    async def stall() -> asyncio.Task:
        task = asyncio.create_task(writer.write(NewMessage(ids[0], alice.id, None, "stalled", MSG_TEXT, None), None))
        await asyncio.sleep(SETTLE_SECONDS)  # its transaction runs, and waits for the lock
        assert not task.done()
        return task

    try:
        yield writer, alice, ids, stall, lock_conn
    finally:
        await lock_conn.rollback()
        await lock_conn.close()
        await blocker.dispose()


def sends(writer, alice, conversation_ids: list[int]) -> list[asyncio.Task]:
    return [asyncio.create_task(writer.write(NewMessage(c, alice.id, None, f"to {c}", MSG_TEXT, None), None)) for c in conversation_ids]


async def test_a_few_sends_behind_a_running_transaction_wait_and_share_the_next(stalled, monkeypatch):
    writer, alice, ids, stall, lock_conn = stalled
    monkeypatch.setattr(message_writer, "OVERLAP_AFTER_SECONDS", 60.0)
    first = await stall()
    waiting = sends(writer, alice, ids[1:4])
    await asyncio.sleep(SETTLE_SECONDS)
    assert not any(task.done() for task in waiting), "a second transaction started for three sends"
    before = batches_committed()
    await lock_conn.rollback()
    results = await asyncio.wait_for(asyncio.gather(first, *waiting), 10)
    assert [vo["content"] for vo, _ in results] == ["stalled", *(f"to {c}" for c in ids[1:4])]
    assert batches_committed() - before == 2  # the stalled one, then the three together


async def test_a_backlog_behind_a_running_transaction_starts_a_second(stalled, monkeypatch):
    writer, alice, ids, stall, lock_conn = stalled
    monkeypatch.setattr(message_writer, "OVERLAP_AFTER_SECONDS", 60.0)
    first = await stall()
    backlog = sends(writer, alice, ids[1:])[: message_writer.OVERLAP_BACKLOG]
    assert len(backlog) == message_writer.OVERLAP_BACKLOG
    results = await asyncio.wait_for(asyncio.gather(*backlog), 10)
    assert all(vo["content"].startswith("to ") for vo, _ in results)
    assert not first.done()  # committed while the first still waits for its lock
    await lock_conn.rollback()
    assert (await asyncio.wait_for(first, 10))[0]["content"] == "stalled"


async def test_a_stalled_transaction_lets_the_next_go_after_a_while(stalled):
    writer, alice, ids, stall, lock_conn = stalled
    first = await stall()
    (second,) = sends(writer, alice, ids[1:2])
    vo, _ = await asyncio.wait_for(second, 10)
    assert vo["content"] == f"to {ids[1]}"
    assert not first.done()
    await lock_conn.rollback()
    await asyncio.wait_for(first, 10)
