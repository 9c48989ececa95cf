"""The search indexer (handlers.services.search_indexer) on MariaDB and SQLite: terms written
after the commit, what a stopped process left behind found at the next start, an edit's terms
never overwritten by a late write of the old ones, a deleted conversation's messages skipped,
terms made without holding the loop."""

from __future__ import annotations

import asyncio

import pytest

from handlers.services.search_indexer import TERMS_CHUNK, SearchIndexer
from storage import conversations as conversation_store
from storage import message_batch
from storage import messages as message_store
from storage import search as search_store
from storage import users as user_store
from storage.clock import utc_now
from storage.messages import NewMessage
from storage.search import MessageToIndex
from storage.search_terms import query_terms

pytestmark = pytest.mark.usefixtures("backend")


async def found(engine, user_id: int, word: str) -> list[int]:
    async with engine.connect() as conn:
        return [row.id for row in await search_store.find(conn, user_id, query_terms(word), conversation_id=None, before=None, limit=50)]


@pytest.fixture
async def chat(engine):
    async with engine.begin() as conn:
        alice = (await user_store.insert_user(conn, username="alice", email="a@example.com", password_hash="x", nickname=None)).id
        bob = (await user_store.insert_user(conn, username="bob", email="b@example.com", password_hash="x", nickname=None)).id
        group = await conversation_store.create_group(conn, owner_id=alice, name="g", member_ids=[bob])
    return alice, group.id


async def test_what_a_stopped_process_left_without_terms_is_indexed_at_the_next_start(engine, chat):
    alice, group = chat
    async with engine.connect() as conn:
        batch = await message_batch.append_batch(conn, [NewMessage(group, alice, None, f"quince {i}", 1, None) for i in range(3)])
    assert await found(engine, alice, "quince") == []  # committed, never handed to an indexer
    indexer = SearchIndexer(engine)
    await indexer.start()
    try:
        await indexer.settled()
        assert await found(engine, alice, "quince") == sorted((a.row["id"] for a in batch.appended), reverse=True)
    finally:
        await indexer.close(1)


async def test_an_edit_keeps_its_terms_and_a_deleted_conversation_is_skipped(engine, chat):
    alice, group = chat
    async with engine.begin() as conn:
        kept = await message_store.append_message(conn, NewMessage(group, alice, None, "old words", 1, None))
        message = await message_store.get_message(conn, kept["id"])
        await message_store.edit_content(conn, message, "new papaya", 1, utc_now())
    async with engine.begin() as conn:
        other = await conversation_store.create_group(conn, owner_id=alice, name="gone", member_ids=[])
        gone = await message_store.append_message(conn, NewMessage(other.id, alice, None, "papaya gone", 1, None))
        await conversation_store.delete_conversation(conn, other.id)
    indexer = SearchIndexer(engine)
    await indexer.start()
    try:
        await indexer.settled()
        # The old content comes late, as from a writer that committed before the edit.
        indexer.add(MessageToIndex(kept["id"], group, 1, "old words"))
        indexer.add(MessageToIndex(gone["id"], other.id, 1, "papaya gone"))
        await indexer.settled()
        assert await found(engine, alice, "papaya") == [kept["id"]]
        assert await found(engine, alice, "old") == []
    finally:
        await indexer.close(1)


async def test_terms_are_made_a_chunk_at_a_time_with_the_loop_let_in_between(engine, chat, monkeypatch):
    alice, group = chat
    ticks = 0
    ticks_at_each_chunk = []
    chunk_sizes = []
    make_terms = search_store.terms_to_write

    def counted(committed):
        ticks_at_each_chunk.append(ticks)
        chunk_sizes.append(len(committed))
        return make_terms(committed)

    monkeypatch.setattr(search_store, "terms_to_write", counted)
    indexer = SearchIndexer(engine)
    await indexer.start()
    await indexer.settled()  # its catch-up at start, before there is anything to find
    async with engine.connect() as conn:
        batch = await message_batch.append_batch(conn, [NewMessage(group, alice, None, f"medlar {i}", 1, None) for i in range(100)])

    async def other_work():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(other_work())
    try:
        for appended in batch.appended:
            indexer.add(MessageToIndex(appended.row["id"], group, 1, appended.row["content"]))
        await indexer.settled()
        assert len(await found(engine, alice, "medlar")) == 50  # one page: all 100 are indexed
    finally:
        ticker.cancel()
        await indexer.close(1)
    assert sum(chunk_sizes) == 100 and max(chunk_sizes) == TERMS_CHUNK < 100
    assert all(later > earlier for earlier, later in zip(ticks_at_each_chunk, ticks_at_each_chunk[1:]))
