"""storage.server_threads on MariaDB: making the outcome of a lost batch final."""

import asyncio

from sqlalchemy import select, text

from storage import conversations as conversation_store
from storage import server_threads
from storage.tables import conversations
from tests.test_storage import insert_two_users


async def test_outlast_writers_returns_once_a_writer_of_the_conversation_ended(engine):
    alice, bob = await insert_two_users(engine)
    async with engine.begin() as conn:
        group = (await conversation_store.create_group(conn, owner_id=alice, name="pair", member_ids=[bob])).id
    async with engine.connect() as writer, engine.connect() as settler:
        # A batch's transaction, as far as its first statement: its conversation's row is locked.
        await writer.execute(conversations.update().where(conversations.c.id == group).values(last_seq=conversations.c.last_seq + 1))
        outlasting = asyncio.create_task(server_threads.outlast_writers(settler, {group}))
        await asyncio.sleep(0.5)
        assert not outlasting.done(), "returned while a transaction appending to the conversation was still open"
        await writer.commit()
        await asyncio.wait_for(outlasting, 5)
        assert await settler.scalar(select(conversations.c.last_seq).where(conversations.c.id == group)) == 1
        await settler.rollback()  # lets the locks go


async def test_end_thread_ends_a_connection(engine):
    async with engine.connect() as victim, engine.connect() as settler:
        thread_id = await victim.scalar(text("SELECT CONNECTION_ID()"))
        await server_threads.end_thread(settler, thread_id)
        assert not await settler.scalar(text("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = :id"), {"id": thread_id})
        await settler.rollback()
        await victim.invalidate()
