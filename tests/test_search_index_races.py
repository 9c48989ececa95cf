"""What the search indexer writes when a message changed between its commit and the write of
its terms (storage.search.index_messages): a message recalled, deleted or edited to no words
meanwhile ends without terms, one edited to other words keeps the edit's. On MySQL/MariaDB the
write inserts first and then finds those, with a read that locks nothing (bench/FINDINGS.md,
"Deadlock"); on SQLite its insert skips them."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from storage import conversations as conversation_store
from storage import messages as message_store
from storage import search as search_store
from storage import users as user_store
from storage.clock import utc_now
from storage.messages import NewMessage
from storage.search import MessageToIndex
from storage.tables import MSG_TEXT, message_search, messages


@pytest.fixture
async def group(engine) -> tuple[int, int]:
    """(alice, her group's id)."""
    async with engine.begin() as conn:
        alice = (await user_store.insert_user(conn, username="alice", email="a@example.com", password_hash="x", nickname=None)).id
        return alice, (await conversation_store.create_group(conn, owner_id=alice, name="g", member_ids=[])).id


async def send(engine, alice: int, group_id: int, content: str) -> MessageToIndex:
    async with engine.begin() as conn:
        row = await message_store.append_message(conn, NewMessage(group_id, alice, None, content, MSG_TEXT, None))
    return MessageToIndex(row["id"], group_id, MSG_TEXT, content)


async def index(engine, written: list[MessageToIndex]) -> None:
    async with engine.begin() as conn:
        await search_store.index_messages(conn, search_store.terms_to_write(written))


async def terms_of(engine) -> dict[int, str]:
    async with engine.connect() as conn:
        return dict((await conn.execute(select(message_search.c.message_id, message_search.c.terms))).all())


@pytest.mark.usefixtures("backend")
async def test_messages_changed_before_the_write(engine, group):
    alice, group_id = group
    kept, recalled, silenced, reworded, gone = [await send(engine, alice, group_id, f"plum {i}") for i in range(5)]
    async with engine.begin() as conn:
        await message_store.mark_recalled(conn, recalled.id, change_seq=1)
        for message, content, change_seq in ((silenced, "!!!", 2), (reworded, "damson", 3)):
            row = await message_store.get_message(conn, message.id)
            await message_store.edit_content(conn, row, content, change_seq, utc_now())
        await conn.execute(delete(messages).where(messages.c.id == gone.id))
    await index(engine, [kept, recalled, silenced, reworded, gone])
    terms = await terms_of(engine)
    assert sorted(terms) == sorted([kept.id, reworded.id])
    assert "qwplum" in terms[kept.id] and "qwdamson" in terms[reworded.id] and "qwplum" not in terms[reworded.id]
