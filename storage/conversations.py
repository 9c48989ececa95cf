"""Queries on `conversations` and `conversation_members`."""

from datetime import datetime

import orjson
from sqlalchemy import Row, String, and_, bindparam, case, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from storage import search
from storage.clock import utc_now
from storage.mentions import mention_count_column
from storage.tables import (
    CONVERSATION_DIRECT,
    CONVERSATION_GROUP,
    ROLE_MEMBER,
    ROLE_OWNER,
    STATUS_RECALLED,
    conversation_members,
    conversations,
    message_changes,
    message_edits,
    message_mentions,
    message_reactions,
    messages,
    user_blocks,
)

members = conversation_members
# A member's own settings of a conversation, read wherever a ConversationVO is made.
MEMBER_SETTINGS = (members.c.muted, members.c.pinned, members.c.archived_seq)


async def get_conversation(conn: AsyncConnection, conversation_id: int) -> Row | None:
    return (await conn.execute(select(conversations).where(conversations.c.id == conversation_id))).first()


async def get_membership(conn: AsyncConnection, conversation_id: int, user_id: int, *, lock: bool = False) -> Row | None:
    """The conversation joined with the user's member row, or None when the user is not a member.

    `lock` takes the conversation row's write lock first, as a send does, so that membership
    changes and sends to one conversation are serialized."""
    if lock:
        await conn.execute(update(conversations).where(conversations.c.id == conversation_id).values(last_seq=conversations.c.last_seq))
    query = (
        select(conversations, members.c.role, members.c.last_read_seq)
        .join(members, members.c.conversation_id == conversations.c.id)
        .where(conversations.c.id == conversation_id, members.c.user_id == user_id)
    )
    return (await conn.execute(query)).first()


async def find_direct(conn: AsyncConnection, user_a: int, user_b: int) -> Row | None:
    low, high = sorted((user_a, user_b))
    query = select(conversations).where(conversations.c.direct_low_id == low, conversations.c.direct_high_id == high)
    return (await conn.execute(query)).first()


async def get_or_create_direct(conn: AsyncConnection, user_a: int, user_b: int) -> tuple[Row, bool]:
    """The one direct conversation of the pair, created when missing. Returns (row, created).

    Two first messages racing each other both try to insert; the unique pair lets exactly one
    win and the other reads the winner's row."""
    existing = await find_direct(conn, user_a, user_b)
    if existing is not None:
        return existing, False
    low, high = sorted((user_a, user_b))
    now = utc_now()
    try:
        async with conn.begin_nested():
            result = await conn.execute(
                conversations.insert().values(
                    type=CONVERSATION_DIRECT, direct_low_id=low, direct_high_id=high, last_seq=0, created_at=now, updated_at=now
                )
            )
            conversation_id = result.inserted_primary_key[0]
            await conn.execute(
                members.insert(),
                [
                    dict(conversation_id=conversation_id, user_id=low, role=ROLE_MEMBER, last_read_seq=0, joined_at=now),
                    dict(conversation_id=conversation_id, user_id=high, role=ROLE_MEMBER, last_read_seq=0, joined_at=now),
                ],
            )
    except IntegrityError:
        winner = await find_direct(conn, user_a, user_b)
        if winner is None:
            raise
        return winner, False
    return await get_conversation(conn, conversation_id), True


async def create_group(conn: AsyncConnection, *, owner_id: int, name: str, member_ids: list[int]) -> Row:
    now = utc_now()
    result = await conn.execute(
        conversations.insert().values(type=CONVERSATION_GROUP, name=name, owner_id=owner_id, last_seq=0, created_at=now, updated_at=now)
    )
    conversation_id = result.inserted_primary_key[0]
    rows = [dict(conversation_id=conversation_id, user_id=owner_id, role=ROLE_OWNER, last_read_seq=0, joined_at=now)]
    rows += [
        dict(conversation_id=conversation_id, user_id=user_id, role=ROLE_MEMBER, last_read_seq=0, joined_at=now)
        for user_id in member_ids
        if user_id != owner_id
    ]
    await conn.execute(members.insert(), rows)
    return await get_conversation(conn, conversation_id)


async def update_conversation(conn: AsyncConnection, conversation_id: int, **values) -> Row:
    await conn.execute(update(conversations).where(conversations.c.id == conversation_id).values(**values, updated_at=utc_now()))
    return await get_conversation(conn, conversation_id)


async def delete_conversation(conn: AsyncConnection, conversation_id: int) -> None:
    # Explicit deletes rather than relying on ON DELETE CASCADE, which SQLite honours only
    # when foreign keys are switched on for the connection.
    in_conversation = select(messages.c.id).where(messages.c.conversation_id == conversation_id)
    await conn.execute(delete(message_edits).where(message_edits.c.message_id.in_(in_conversation)))
    await conn.execute(delete(message_changes).where(message_changes.c.conversation_id == conversation_id))
    await conn.execute(delete(message_reactions).where(message_reactions.c.conversation_id == conversation_id))
    await conn.execute(delete(message_mentions).where(message_mentions.c.conversation_id == conversation_id))
    await search.unindex_conversation(conn, conversation_id)
    await conn.execute(delete(messages).where(messages.c.conversation_id == conversation_id))
    await conn.execute(delete(members).where(members.c.conversation_id == conversation_id))
    await conn.execute(delete(conversations).where(conversations.c.id == conversation_id))


class json_array_agg(FunctionElement):
    """The column's values as one JSON array (an aggregate); NULL over no rows on MySQL."""

    type = String()
    inherit_cache = True


@compiles(json_array_agg)
def _json_array_agg_mysql(element, compiler, **kw):
    return f"JSON_ARRAYAGG({compiler.process(element.clauses, **kw)})"


@compiles(json_array_agg, "sqlite")
def _json_array_agg_sqlite(element, compiler, **kw):
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


async def member_ids(conn: AsyncConnection, conversation_id: int) -> list[int]:
    """In id order. Read as one JSON array: PyMySQL parses each row in Python, and a push to a
    large group (mark_read, recall) would parse a row per member."""
    query = select(json_array_agg(members.c.user_id)).where(members.c.conversation_id == conversation_id)
    value = await conn.scalar(query)
    return sorted(orjson.loads(value)) if value is not None else []


async def last_seqs(conn: AsyncConnection, conversation_ids: list[int]) -> dict[int, int]:
    query = select(conversations.c.id, conversations.c.last_seq).where(conversations.c.id.in_(conversation_ids))
    return {row.id: row.last_seq for row in await conn.execute(query)}


async def last_seqs_changed_since(conn: AsyncConnection, moment: datetime) -> dict[int, int]:
    """Conversations updated after `moment` (a message, a rename, a member change) with a message."""
    query = select(conversations.c.id, conversations.c.last_seq).where(conversations.c.updated_at > moment, conversations.c.last_seq > 0)
    return {row.id: row.last_seq for row in await conn.execute(query)}


async def add_members(conn: AsyncConnection, conversation_id: int, user_ids: list[int], last_read_seq: int) -> None:
    now = utc_now()
    await conn.execute(
        members.insert(),
        [dict(conversation_id=conversation_id, user_id=user_id, role=ROLE_MEMBER, last_read_seq=last_read_seq, joined_at=now) for user_id in user_ids],
    )


async def read_markers(conn: AsyncConnection, conversation_id: int) -> list[Row]:
    """Each member's `user_id`, `last_read_seq` and `joined_at`."""
    query = select(members.c.user_id, members.c.last_read_seq, members.c.joined_at).where(members.c.conversation_id == conversation_id)
    return list(await conn.execute(query))


async def readers(conn: AsyncConnection, conversation_id: int, seq: int, sender_id: int, sent_at: datetime) -> list[int]:
    """The members other than the sender whose read marker is at or past `seq`, by id, leaving
    out those who joined after `sent_at`: a new member's marker starts at the conversation's
    last seq without its having read anything."""
    query = (
        select(members.c.user_id)
        .where(
            members.c.conversation_id == conversation_id,
            members.c.last_read_seq >= seq,
            members.c.user_id != sender_id,
            members.c.joined_at <= sent_at,
        )
        .order_by(members.c.user_id)
    )
    return list((await conn.execute(query)).scalars())


async def member_roles(conn: AsyncConnection, conversation_id: int) -> dict[int, int]:
    """Each member's role, by user id."""
    query = select(members.c.user_id, members.c.role).where(members.c.conversation_id == conversation_id)
    return {row.user_id: row.role for row in await conn.execute(query)}


async def member_role(conn: AsyncConnection, conversation_id: int, user_id: int) -> int | None:
    """The user's role in the conversation; None when not a member."""
    query = select(members.c.role).where(members.c.conversation_id == conversation_id, members.c.user_id == user_id)
    return await conn.scalar(query)


async def set_role(conn: AsyncConnection, conversation_id: int, user_id: int, role: int) -> None:
    await conn.execute(update(members).where(members.c.conversation_id == conversation_id, members.c.user_id == user_id).values(role=role))


async def remove_member(conn: AsyncConnection, conversation_id: int, user_id: int) -> bool:
    result = await conn.execute(delete(members).where(members.c.conversation_id == conversation_id, members.c.user_id == user_id))
    return result.rowcount > 0


def _partners(subjects_match):
    """(subject, partner, blocked): each user sharing at least one conversation with a subject
    (the members `subjects_match(subjects)` selects), once, and whether the subject blocked them."""
    subjects = members.alias("subjects")
    blocked = exists().where(user_blocks.c.blocker_id == subjects.c.user_id, user_blocks.c.blocked_id == members.c.user_id)
    return (
        select(subjects.c.user_id.label("subject"), members.c.user_id.label("partner"), blocked.label("blocked"))
        .join(members, and_(members.c.conversation_id == subjects.c.conversation_id, members.c.user_id != subjects.c.user_id))
        .where(subjects_match(subjects))
        .distinct()
    )


async def share_a_conversation(conn: AsyncConnection, user_id: int, other_id: int) -> bool:
    """Whether the two users are members of at least one conversation together."""
    other = members.alias("other")
    query = select(
        exists()
        .select_from(members.join(other, other.c.conversation_id == members.c.conversation_id))
        .where(members.c.user_id == user_id, other.c.user_id == other_id)
    )
    return bool(await conn.scalar(query))


def _presence_audiences_statement():
    pairs = _partners(lambda subjects: subjects.c.user_id.in_(bindparam("user_ids", expanding=True))).subquery()
    # A blocker's coming and going is hidden from those they blocked.
    return select(pairs.c.subject, json_array_agg(pairs.c.partner)).where(~pairs.c.blocked).group_by(pairs.c.subject)


# Built once: the presence of every socket that opens or closes is looked up with it, and the
# profile of every user who changes theirs.
_PRESENCE_AUDIENCES = _presence_audiences_statement()
_PROFILE_AUDIENCE = _partners(lambda subjects: subjects.c.user_id == bindparam("user_id"))


async def presence_audiences(conn: AsyncConnection, user_ids: list[int]) -> dict[int, list[int]]:
    """For each of `user_ids`, the users who share at least one conversation with them and
    were not blocked by them: whom to tell of their coming and going. Each list is one JSON
    array (see `member_ids`); a user with none is left out. One round trip for a whole
    reconnect storm's worth of users (see `server.tracker`)."""
    return {subject: orjson.loads(partners) for subject, partners in await conn.execute(_PRESENCE_AUDIENCES, {"user_ids": user_ids})}


async def profile_audience(conn: AsyncConnection, user_id: int) -> tuple[list[int], list[int]]:
    """Whom to tell of `user_id`'s profile change (PROTOCOL §4 `user.updated`): the users who
    share at least one conversation with them, as (those who see the user's presence, those
    the user blocked, who see the profile only offline), each by id. One statement."""
    seeing: list[int] = []
    blocked: list[int] = []
    for row in await conn.execute(_PROFILE_AUDIENCE, {"user_id": user_id}):
        (blocked if row.blocked else seeing).append(row.partner)
    return sorted(seeing), sorted(blocked)


async def advance_read_marker(conn: AsyncConnection, conversation_id: int, user_id: int, seq: int) -> int:
    """Move the member's read marker forward to `seq` (never backwards); return the marker."""
    await conn.execute(
        update(members)
        .where(members.c.conversation_id == conversation_id, members.c.user_id == user_id, members.c.last_read_seq < seq)
        .values(last_read_seq=seq)
    )
    query = select(members.c.last_read_seq).where(members.c.conversation_id == conversation_id, members.c.user_id == user_id)
    return (await conn.execute(query)).scalar_one()


def _recalled_by_others_after_marker():
    """Correlated count for the unread formula: recalled messages past the member's marker,
    sent by someone else (a member's own messages are never past its own marker)."""
    return (
        select(func.count())
        .where(
            messages.c.conversation_id == members.c.conversation_id,
            messages.c.status == STATUS_RECALLED,
            messages.c.seq > members.c.last_read_seq,
            messages.c.sender_id != members.c.user_id,
        )
        .scalar_subquery()
    )


def unread_count_column():
    """unread = last_seq - last_read_seq - recalled others' messages past the marker.

    Sending moves the sender's own marker to its message, so no own message lies past the
    marker; the recall count reads only recalled rows through (conversation_id, status, seq)."""
    raw = conversations.c.last_seq - members.c.last_read_seq - _recalled_by_others_after_marker()
    return case((raw > 0, raw), else_=0).label("unread_count")


async def unread_count(conn: AsyncConnection, conversation_id: int, user_id: int) -> int:
    query = (
        select(unread_count_column())
        .select_from(conversations.join(members, members.c.conversation_id == conversations.c.id))
        .where(conversations.c.id == conversation_id, members.c.user_id == user_id)
    )
    return (await conn.execute(query)).scalar_one()


async def member_views(conn: AsyncConnection, conversation_id: int, user_ids: list[int] | None = None) -> list[Row]:
    """The conversation once per member (all members, or those of `user_ids` who are members),
    each row with that member's `member_id`, `role`, `last_read_seq`, `unread_count` and `mention_count`: one
    query however many members, for the events that describe the conversation to each."""
    query = (
        select(conversations, members.c.user_id.label("member_id"), members.c.last_read_seq, members.c.role, *MEMBER_SETTINGS, unread_count_column(), mention_count_column())
        .join(members, members.c.conversation_id == conversations.c.id)
        .where(conversations.c.id == conversation_id)
        .order_by(members.c.user_id)
    )
    if user_ids is not None:
        if not user_ids:
            return []
        query = query.where(members.c.user_id.in_(user_ids))
    return list(await conn.execute(query))


async def list_for_user(conn: AsyncConnection, user_id: int, *, include_archived: bool = False) -> list[Row]:
    """The user's conversations with its marker, unread and mention counts and settings: pinned first, then
    latest activity first; archived ones only when asked for."""
    query = (
        select(conversations, members.c.last_read_seq, members.c.role, *MEMBER_SETTINGS, unread_count_column(), mention_count_column())
        .join(members, and_(members.c.conversation_id == conversations.c.id, members.c.user_id == user_id))
        .order_by(members.c.pinned.desc(), conversations.c.updated_at.desc(), conversations.c.id.desc())
    )
    if not include_archived:
        query = query.where(or_(members.c.archived_seq.is_(None), conversations.c.last_seq > members.c.archived_seq))
    return list(await conn.execute(query))


async def member_settings(conn: AsyncConnection, conversation_id: int, user_id: int) -> Row | None:
    query = select(*MEMBER_SETTINGS).where(members.c.conversation_id == conversation_id, members.c.user_id == user_id)
    return (await conn.execute(query)).first()


async def update_member_settings(conn: AsyncConnection, conversation_id: int, user_id: int, **values) -> None:
    await conn.execute(update(members).where(members.c.conversation_id == conversation_id, members.c.user_id == user_id).values(**values))
