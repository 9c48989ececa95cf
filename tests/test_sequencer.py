"""Seq-ordered delivery (server/sequencer.py) against the database as the log, on MariaDB and
SQLite: whatever order the news of commits arrives in, each conversation's messages leave in
seq order, each once, and what never arrives is read back from the database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from handlers.push import OrderedPush
from handlers.services.committed import CommittedMessages
from server.sequencer import Sequencer
from storage import conversations as conversation_store
from storage.clock import utc_now
from storage.tables import messages
from tests.test_storage import insert_two_users, send

GAP = 0.05


@pytest.fixture
async def conversation(engine, backend):
    """A direct conversation of two users: (conversation id, sender id)."""
    alice, bob = await insert_two_users(engine)
    async with engine.begin() as conn:
        row, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    return row.id, alice


class Recorder:
    """Stands where the connection tracker does: what was delivered, in order."""

    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.contents: list[str] = []
        self.replied: list[int] = []

    def __call__(self, push: OrderedPush) -> None:
        self.seqs.append(push.seq)
        self.contents.append(push.events[0][1]["content"])
        if push.on_delivered is not None:
            push.on_delivered()

    def reply_for(self, seq: int):
        return lambda: self.replied.append(seq)


async def commit(engine, conversation_id: int, sender_id: int, count: int) -> list[OrderedPush]:
    """Commit `count` messages; their pushes, as the writer would hand them over."""
    pushes = []
    for _ in range(count):
        row = await send(engine, conversation_id, sender_id, f"hello {len(pushes)}")
        pushes.append(OrderedPush(conversation_id, row["seq"], [sender_id], (("message.new", {"content": row["content"]}),)))
    return pushes


async def until(condition, timeout: float = 5) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_arrivals_in_any_order_leave_in_seq_order(engine, conversation):
    cid, sender = conversation
    recorder = Recorder()
    sequencer = Sequencer(recorder, CommittedMessages(engine), gap_seconds=5)
    pushes = await commit(engine, cid, sender, 5)
    for index in (2, 0, 4, 1, 3):
        sequencer.accept(pushes[index])
    await until(lambda: len(recorder.seqs) == 5)
    assert recorder.seqs == [1, 2, 3, 4, 5]
    assert sequencer.repairs == 0
    await sequencer.close()


async def test_the_senders_reply_waits_for_the_seqs_below_it(engine, conversation):
    cid, sender = conversation
    recorder = Recorder()
    sequencer = Sequencer(recorder, CommittedMessages(engine), gap_seconds=5)
    first, second = await commit(engine, cid, sender, 2)
    sequencer.accept(second._replace(on_delivered=recorder.reply_for(2)))
    await asyncio.sleep(0.05)
    assert recorder.replied == [] and recorder.seqs == []
    sequencer.accept(first)
    await until(lambda: recorder.replied == [2])
    assert recorder.seqs == [1, 2]
    await sequencer.close()


async def test_a_seq_that_never_arrives_is_read_from_the_database(engine, conversation):
    cid, sender = conversation
    recorder = Recorder()
    sequencer = Sequencer(recorder, CommittedMessages(engine), gap_seconds=GAP)
    one, two, three = await commit(engine, cid, sender, 3)
    sequencer.accept(one)
    sequencer.accept(three)
    await until(lambda: len(recorder.seqs) == 3)
    assert recorder.seqs == [1, 2, 3]
    assert recorder.contents == ["hello 0", "hello 1", "hello 2"]
    assert sequencer.repairs == 1

    # The lost one turns up late: it is not delivered again, but its sender gets the reply.
    sequencer.accept(two._replace(on_delivered=recorder.reply_for(2)))
    assert recorder.seqs == [1, 2, 3] and recorder.replied == [2]
    await sequencer.close()


async def test_a_lost_tail_is_found_by_resync(engine, conversation):
    cid, sender = conversation
    recorder = Recorder()
    sequencer = Sequencer(recorder, CommittedMessages(engine), gap_seconds=GAP)
    pushes = await commit(engine, cid, sender, 3)
    sequencer.accept(pushes[0])
    await asyncio.sleep(GAP * 3)
    assert recorder.seqs == [1]  # nothing later arrived, so nothing shows the loss
    sequencer.resync()
    await until(lambda: len(recorder.seqs) == 3)
    assert recorder.seqs == [1, 2, 3]
    await sequencer.close()


async def test_a_conversation_met_late_starts_after_the_horizon(engine, conversation):
    """Messages committed before the process's horizon (its start) are nobody's due here;
    those committed after it are, even if their news never came."""
    cid, sender = conversation
    pushes = await commit(engine, cid, sender, 4)
    long_ago = utc_now() - timedelta(minutes=10)
    async with engine.begin() as conn:
        await conn.execute(update(messages).where(messages.c.conversation_id == cid, messages.c.seq <= 2).values(created_at=long_ago))

    recorder = Recorder()
    sequencer = Sequencer(recorder, CommittedMessages(engine), gap_seconds=GAP)
    sequencer.horizon = long_ago + timedelta(minutes=1)
    sequencer.accept(pushes[3])
    await until(lambda: len(recorder.seqs) == 2)
    assert recorder.seqs == [3, 4]
    await sequencer.close()


async def test_a_fresh_conversation_starts_at_seq_1_without_a_lookup(engine, conversation):
    cid, sender = conversation
    recorder = Recorder()
    sequencer = Sequencer(recorder, CommittedMessages(engine), gap_seconds=5)
    (first,) = await commit(engine, cid, sender, 1)
    sequencer.accept(first)
    assert recorder.seqs == [1]  # delivered at once, before any await
    await sequencer.close()


async def test_a_seq_another_process_says_it_committed_is_read_once_its_news_is_overdue(engine, conversation):
    cid, sender = conversation
    recorder = Recorder()
    sequencer = Sequencer(recorder, CommittedMessages(engine), gap_seconds=GAP)
    pushes = await commit(engine, cid, sender, 3)
    sequencer.accept(pushes[0])
    sequencer.expect(cid, 3)  # a heartbeat: 2 and 3 are committed, their news still on its way
    sequencer.accept(pushes[1])
    watching = asyncio.create_task(sequencer.watch_tail(GAP))
    try:
        await until(lambda: len(recorder.seqs) == 3)
    finally:
        watching.cancel()
    assert recorder.seqs == [1, 2, 3]
    assert sequencer.repairs == 1  # only 3, whose news never came
    await sequencer.close()


async def test_a_conversation_first_heard_of_by_heartbeat_is_caught_up(engine, conversation):
    cid, sender = conversation
    recorder = Recorder()
    sequencer = Sequencer(recorder, CommittedMessages(engine), gap_seconds=GAP)
    await commit(engine, cid, sender, 2)
    sequencer.expect(cid, 2)
    await until(lambda: len(recorder.seqs) == 2)
    assert recorder.seqs == [1, 2]
    await sequencer.close()


async def test_a_forgotten_conversation_is_not_pushed_again_when_its_next_message_comes(engine, conversation, monkeypatch):
    monkeypatch.setattr("server.sequencer.CLOCK_SKEW", timedelta(0))
    cid, sender = conversation
    recorder = Recorder()
    sequencer = Sequencer(recorder, CommittedMessages(engine), gap_seconds=GAP, idle_seconds=0.3)
    (first,) = await commit(engine, cid, sender, 1)
    sequencer.accept(first)
    await asyncio.sleep(0.5)
    sequencer.forget_idle()
    (second,) = await commit(engine, cid, sender, 1)
    sequencer.accept(second)
    await until(lambda: len(recorder.seqs) >= 2)
    await asyncio.sleep(0.1)
    assert recorder.seqs == [1, 2]
    await sequencer.close()
