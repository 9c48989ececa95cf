"""Deleting an account. The user's row stays, as the messages name their sender (seed 000's data
model): anonymised, disabled and marked deleted; the username is held back from registration
for a while; the groups it owned pass to another member."""

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import notices as notice_store

from storage.tables import (
    CONVERSATION_DIRECT,
    CONVERSATION_GROUP,
    ROLE_ADMIN,
    ROLE_MEMBER,
    ROLE_OWNER,
    STATUS_RECALLED,
    conversation_members,
    conversations,
    message_edits,
    message_search,
    messages,
    retired_usernames,
    user_blocks,
    users,
)

DELETED_NICKNAME = "Deleted user"
# Not a bcrypt hash: no password matches it.
NO_PASSWORD = "!"


async def anonymise(conn: AsyncConnection, user_id: int, now: datetime, username_held_until: datetime | None) -> bool:
    """Disable the account and strip its profile; its username (and email) free for others
    to take, the username from `username_held_until` on (None: at once). A placeholder
    username no registration can take (a hyphen) keeps the row valid. False: no such user."""
    username = await conn.scalar(select(users.c.username).where(users.c.id == user_id, users.c.deleted_at.is_(None)).with_for_update())
    if username is None:
        return False
    if username_held_until is not None:
        await conn.execute(delete(retired_usernames).where(retired_usernames.c.username == username))
        try:
            async with conn.begin_nested():
                await conn.execute(retired_usernames.insert().values(username=username, retired_until=username_held_until))
        except IntegrityError:
            pass  # held already, by a deletion racing this one
    await conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(
            username=f"deleted-{user_id}",
            email=f"deleted-{user_id}@deleted.invalid",
            nickname=DELETED_NICKNAME,
            avatar=None,
            password_hash=NO_PASSWORD,
            status=0,
            deleted_at=now,
            updated_at=now,
        )
    )
    return True


async def is_retired(conn: AsyncConnection, username: str, now: datetime) -> bool:
    query = select(retired_usernames.c.username).where(retired_usernames.c.username == username, retired_usernames.c.retired_until > now)
    return (await conn.scalar(query)) is not None


class Handover(NamedTuple):
    conversation_id: int
    new_owner_id: int
    notice: notice_store.Notice  # the `owner` notice in the group's history


async def hand_over_groups(conn: AsyncConnection, user_id: int) -> list[Handover]:
    """Every group the user owns passes to its oldest admin, else its oldest member (accounts
    not deleted); the user stays a plain member, and the group's history tells of it. A group
    with nobody else keeps its owner."""
    # Locked as a send locks them: the notice's after_seq stays the last message before it.
    owned = (
        await conn.execute(
            select(conversations.c.id, conversations.c.last_seq)
            .where(conversations.c.owner_id == user_id, conversations.c.type == CONVERSATION_GROUP)
            .with_for_update()
        )
    ).all()
    handed = []
    for conversation_id, last_seq in owned:
        successor = await conn.scalar(
            select(conversation_members.c.user_id)
            .join(users, users.c.id == conversation_members.c.user_id)
            .where(conversation_members.c.conversation_id == conversation_id, conversation_members.c.user_id != user_id, users.c.deleted_at.is_(None))
            .order_by(case((conversation_members.c.role == ROLE_ADMIN, 0), else_=1), conversation_members.c.joined_at, conversation_members.c.user_id)
            .limit(1)
        )
        if successor is None:
            continue
        for member_id, role in ((successor, ROLE_OWNER), (user_id, ROLE_MEMBER)):
            await conn.execute(
                update(conversation_members)
                .where(conversation_members.c.conversation_id == conversation_id, conversation_members.c.user_id == member_id)
                .values(role=role)
            )
        await conn.execute(update(conversations).where(conversations.c.id == conversation_id).values(owner_id=successor))
        notice = await notice_store.add_notice(conn, conversation_id, after_seq=last_seq, kind=notice_store.OWNER, actor_id=user_id, subject_id=successor)
        handed.append(Handover(conversation_id, successor, notice))
    return handed


async def close_direct_conversations(conn: AsyncConnection, user_id: int, now: datetime) -> None:
    """The deleted user blocks the other member of each of its direct conversations: the check
    every send already makes (storage.message_batch, `require_not_blocked`) then refuses their
    messages to it, at no cost to the send path. The conversations and their messages stay."""
    await conn.execute(delete(user_blocks).where(user_blocks.c.blocker_id == user_id))
    peer = case((conversations.c.direct_low_id == user_id, conversations.c.direct_high_id), else_=conversations.c.direct_low_id)
    peers = (
        select(conversation_members.c.user_id.label("blocker_id"), peer.label("blocked_id"), literal(now, user_blocks.c.created_at.type).label("created_at"))
        .join(conversations, conversations.c.id == conversation_members.c.conversation_id)
        .where(conversation_members.c.user_id == user_id, conversations.c.type == CONVERSATION_DIRECT)
    )
    await conn.execute(user_blocks.insert().from_select(["blocker_id", "blocked_id", "created_at"], peers))


async def remove_sent_content(conn: AsyncConnection, user_id: int) -> None:
    """Empty every message the user sent, as a recall does (their earlier versions and search
    terms too); the messages stay, so no seq goes missing."""
    sent = select(messages.c.id).where(messages.c.sender_id == user_id).scalar_subquery()
    await conn.execute(delete(message_search).where(message_search.c.message_id.in_(sent)))
    await conn.execute(delete(message_edits).where(message_edits.c.message_id.in_(sent)))
    await conn.execute(update(messages).where(messages.c.sender_id == user_id).values(content="", status=STATUS_RECALLED))
