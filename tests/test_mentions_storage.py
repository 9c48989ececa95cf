"""Mentions in storage, on both databases: reading @names out of content, resolving them to
current members, and the mention count past a member's read marker."""

import pytest

from storage import conversations as conversation_store
from storage import mentions as mention_store
from storage import users as user_store
from storage.tables import message_mentions
from tests.test_storage import send


@pytest.fixture
async def group(engine, backend):
    async with engine.begin() as conn:
        ids = [
            (await user_store.insert_user(conn, username=name, email=f"{name}@example.com", password_hash="x", nickname=None)).id
            for name in ("Alice", "bob_2", "carol", "dave")
        ]
        # dave is not a member.
        conversation = await conversation_store.create_group(conn, owner_id=ids[0], name="g", member_ids=ids[1:3])
    return conversation.id, ids


def test_names_in_content():
    assert mention_store.names_in("no mentions here") == set()
    assert mention_store.names_in("hi @Bob_2, and @carol! (@ALICE) @bob_2") == {"bob_2", "carol", "alice"}
    assert mention_store.names_in("@all: lunch") == {"all"}
    # An e-mail address, a name too short or a lone @ mention nobody.
    assert mention_store.names_in("write to alice@example.com or @ab or @ or @@carol") == set()
    assert mention_store.names_in("@carol's turn; @carol.") == {"carol"}


async def resolve(engine, conversation_id, sender_id, content, everyone=False):
    async with engine.connect() as conn:
        return await mention_store.resolve(conn, conversation_id, sender_id, mention_store.names_in(content), everyone=everyone)


async def test_resolve_to_current_members_only(engine, group):
    conversation_id, (alice, bob, carol, _) = group
    assert await resolve(engine, conversation_id, alice, "@BOB_2 @Carol @dave @nobody @alice") == [bob, carol]
    assert await resolve(engine, conversation_id, bob, "@alice @alice") == [alice]
    assert await resolve(engine, conversation_id, bob, "@nobody") == []
    assert await resolve(engine, conversation_id, bob, "@all", everyone=True) == [alice, carol]
    assert await resolve(engine, conversation_id, bob, "@all") == []
    async with engine.begin() as conn:
        await conversation_store.remove_member(conn, conversation_id, carol)
    assert await resolve(engine, conversation_id, alice, "@carol @bob_2") == [bob]
    assert await resolve(engine, conversation_id, alice, "@all", everyone=True) == [bob]


async def mention_counts(engine, user_id):
    async with engine.connect() as conn:
        return {row.id: row.mention_count for row in await conversation_store.list_for_user(conn, user_id)}


async def test_mention_count_past_the_marker_and_without_recalled_messages(engine, group):
    conversation_id, (alice, bob, carol, _) = group
    messages = []
    for content in ("@bob_2 one", "@bob_2 @carol two", "three"):
        row = await send(engine, conversation_id, alice, content)
        async with engine.begin() as conn:
            user_ids = await mention_store.resolve(conn, conversation_id, alice, mention_store.names_in(content), everyone=False)
            await mention_store.add(conn, row["id"], conversation_id, row["seq"], user_ids)
        messages.append(row)
    async with engine.connect() as conn:
        assert await mention_store.of_messages(conn, {row["id"] for row in messages}) == {messages[0]["id"]: [bob], messages[1]["id"]: sorted([bob, carol])}
        assert await mention_store.of_messages(conn, set()) == {}
        views = {row.member_id: row.mention_count for row in await conversation_store.member_views(conn, conversation_id)}
    assert views == {alice: 0, bob: 2, carol: 1}
    assert await mention_counts(engine, bob) == {conversation_id: 2}
    async with engine.begin() as conn:
        await conversation_store.advance_read_marker(conn, conversation_id, bob, messages[0]["seq"])
        await mention_store.delete_for_message(conn, messages[1]["id"])
    assert await mention_counts(engine, bob) == {conversation_id: 0}
    assert await mention_counts(engine, carol) == {conversation_id: 0}
    async with engine.begin() as conn:
        await conversation_store.delete_conversation(conn, conversation_id)
        assert (await conn.execute(message_mentions.select())).first() is None
