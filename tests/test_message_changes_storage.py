"""Edits and change seqs in storage, on both databases."""

import pytest

from storage import conversations as conversation_store
from storage import messages as message_store
from storage.clock import utc_now
from storage.tables import message_changes, message_edits
from tests.test_storage import insert_two_users, send


@pytest.fixture
async def direct(engine, backend):
    alice, bob = await insert_two_users(engine)
    async with engine.begin() as conn:
        conversation, _ = await conversation_store.get_or_create_direct(conn, alice, bob)
    return conversation.id, alice, bob


async def change(engine, conversation_id, user_id, message_id, content=None):
    """An edit to `content`, or a recall; as the service does it, under the conversation's lock."""
    async with engine.begin() as conn:
        await conversation_store.get_membership(conn, conversation_id, user_id, lock=True)
        message = await message_store.get_message(conn, message_id, lock=True)
        change_seq = await message_store.record_change(conn, conversation_id, message_id)
        if content is None:
            await message_store.mark_recalled(conn, message_id, change_seq)
        else:
            await message_store.edit_content(conn, message, content, change_seq, utc_now())
    return change_seq


async def test_edits_keep_versions_and_change_seqs_are_consecutive(engine, direct):
    conversation_id, alice, bob = direct
    first = await send(engine, conversation_id, alice, "one")
    second = await send(engine, conversation_id, alice, "other")
    assert await change(engine, conversation_id, alice, first["id"], "two") == 1
    assert await change(engine, conversation_id, alice, second["id"]) == 2
    assert await change(engine, conversation_id, alice, first["id"], "three") == 3
    async with engine.connect() as conn:
        edited = await message_store.get_message(conn, first["id"])
        versions = await message_store.versions(conn, first["id"])
        changed = await message_store.changed_page(conn, conversation_id, changed_after=0, limit=10)
        later = await message_store.changed_page(conn, conversation_id, changed_after=2, limit=10)
        first_only = await message_store.changed_page(conn, conversation_id, changed_after=0, limit=1)
        conversation = await conversation_store.get_conversation(conn, conversation_id)
    assert (edited.content, edited.seq, edited.change_seq) == ("three", 1, 3)
    assert edited.edited_at >= edited.created_at
    assert [(v.version, v.content) for v in versions] == [(1, "one"), (2, "two")]
    assert versions[0].created_at == first["created_at"]
    # Each message once, at its latest change.
    assert [(m.id, m.change_seq) for m in changed] == [(second["id"], 2), (first["id"], 3)]
    assert [m.id for m in later] == [first["id"]]
    assert [m.id for m in first_only] == [second["id"]]
    assert (conversation.last_seq, conversation.last_change_seq) == (2, 3)


async def test_a_rolled_back_change_gives_its_change_seq_back(engine, direct):
    conversation_id, alice, bob = direct
    sent = await send(engine, conversation_id, alice, "one")
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await message_store.record_change(conn, conversation_id, sent["id"])
            raise RuntimeError("refused after the allocation")
    assert await change(engine, conversation_id, alice, sent["id"], "two") == 1


async def test_deleting_a_conversation_takes_its_edits_and_changes_along(engine, backend):
    alice, bob = await insert_two_users(engine)
    async with engine.begin() as conn:
        group = await conversation_store.create_group(conn, owner_id=alice, name="g", member_ids=[bob])
    sent = await send(engine, group.id, alice, "one")
    await change(engine, group.id, alice, sent["id"], "two")
    async with engine.begin() as conn:
        await conversation_store.delete_conversation(conn, group.id)
    async with engine.connect() as conn:
        assert (await conn.execute(message_edits.select())).first() is None
        assert (await conn.execute(message_changes.select())).first() is None
