"""Reactions in storage, on both databases."""

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from storage import conversations as conversation_store
from storage import reactions as reaction_store
from storage import users as user_store
from storage.clock import utc_now
from storage.reactions import ReactionSummary
from storage.tables import message_reactions
from tests.test_storage import send

# Different emoji that utf8mb4_unicode_ci weighs the same.
THUMBS, PARTY, CAT = "👍", "🎉", "🐈"


@pytest.fixture
async def group(engine, backend):
    async with engine.begin() as conn:
        ids = [(await user_store.insert_user(conn, username=f"u{i}", email=f"u{i}@example.com", password_hash="x", nickname=None)).id for i in range(4)]
        conversation = await conversation_store.create_group(conn, owner_id=ids[0], name="g", member_ids=ids[1:])
    return conversation.id, ids


async def react(engine, conversation_id, message_id, user_id, emoji, at):
    async with engine.begin() as conn:
        await reaction_store.add(conn, conversation_id, message_id, user_id, emoji, at)


async def test_summaries_count_name_the_first_users_and_mark_the_viewer(engine, group):
    conversation_id, (a, b, c, d) = group
    first = await send(engine, conversation_id, a, "one")
    second = await send(engine, conversation_id, a, "two")
    untouched = await send(engine, conversation_id, a, "three")
    start = utc_now()
    for offset, (message, user, emoji) in enumerate(
        [(first, d, PARTY), (first, b, THUMBS), (first, c, THUMBS), (first, a, THUMBS), (second, c, CAT), (first, c, PARTY)]
    ):
        await react(engine, conversation_id, message["id"], user, emoji, start + timedelta(milliseconds=offset))
    ids = {first["id"], second["id"], untouched["id"]}
    async with engine.connect() as conn:
        seen_by_a = await reaction_store.summaries(conn, ids, shown=2, viewer_id=a)
        anonymous = await reaction_store.summaries(conn, ids, shown=2)
        assert await reaction_store.emojis_of(conn, first["id"]) == {THUMBS, PARTY}
        assert await reaction_store.has(conn, first["id"], c, PARTY)
        assert not await reaction_store.has(conn, first["id"], c, CAT)
    assert seen_by_a == {
        # Emoji in the order first used; users in the order they reacted, the first two.
        first["id"]: [ReactionSummary(PARTY, 2, [d, c], False), ReactionSummary(THUMBS, 3, [b, c], True)],
        second["id"]: [ReactionSummary(CAT, 1, [c], False)],
    }
    assert [s.mine for summaries in anonymous.values() for s in summaries] == [False, False, False]


async def test_one_reaction_per_user_per_emoji_and_removal(engine, group):
    conversation_id, (a, b, c, d) = group
    message = await send(engine, conversation_id, a, "one")
    now = utc_now()
    await react(engine, conversation_id, message["id"], b, THUMBS, now)
    with pytest.raises(IntegrityError):
        await react(engine, conversation_id, message["id"], b, THUMBS, now)
    async with engine.begin() as conn:
        assert await reaction_store.remove(conn, message["id"], b, THUMBS)
        assert not await reaction_store.remove(conn, message["id"], b, THUMBS)
        assert await reaction_store.summaries(conn, {message["id"]}, shown=5) == {}


async def test_a_recall_and_a_deleted_conversation_take_the_reactions_along(engine, group):
    conversation_id, (a, b, c, d) = group
    kept, recalled = await send(engine, conversation_id, a, "kept"), await send(engine, conversation_id, a, "recalled")
    for message in (kept, recalled):
        await react(engine, conversation_id, message["id"], b, THUMBS, utc_now())
    async with engine.begin() as conn:
        await reaction_store.delete_for_message(conn, recalled["id"])
        assert set(await reaction_store.summaries(conn, {kept["id"], recalled["id"]}, shown=5)) == {kept["id"]}
        await conversation_store.delete_conversation(conn, conversation_id)
    async with engine.connect() as conn:
        assert (await conn.execute(message_reactions.select())).first() is None
