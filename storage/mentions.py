"""Queries on `message_mentions`, and reading the mentions out of a message's content.

A mention is `@name` where name is a username (letters, digits, underscores) not preceded by
one of those characters (so an e-mail address mentions nobody); `@all` in a group mentions every
member. Names compare case-insensitively (the column's collation, on both databases)."""

import re

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import conversation_members, message_mentions, users

mentions = message_mentions
ALL = "all"
_MENTION = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{3,32})(?![A-Za-z0-9_])")


def names_in(content: str) -> set[str]:
    """The names mentioned in `content`, lower-cased; `all` among them for @all."""
    if "@" not in content:
        return set()
    return {name.lower() for name in _MENTION.findall(content)}


async def resolve(conn: AsyncConnection, conversation_id: int, sender_id: int, names: set[str], *, everyone: bool) -> list[int]:
    """The current members (the sender aside) that `names` name, or all of them for
    `everyone`, in id order, in one query."""
    query = select(conversation_members.c.user_id).where(
        conversation_members.c.conversation_id == conversation_id, conversation_members.c.user_id != sender_id
    )
    if not everyone:
        usernames = names - {ALL}
        if not usernames:
            return []
        query = query.join(users, users.c.id == conversation_members.c.user_id).where(users.c.username.in_(sorted(usernames)))
    return sorted(set(await conn.scalars(query)))


async def add(conn: AsyncConnection, message_id: int, conversation_id: int, seq: int, user_ids: list[int]) -> None:
    if user_ids:
        await conn.execute(
            insert(mentions), [{"message_id": message_id, "user_id": user_id, "conversation_id": conversation_id, "seq": seq} for user_id in user_ids]
        )


async def of_messages(conn: AsyncConnection, message_ids: set[int]) -> dict[int, list[int]]:
    """The mentioned user ids of each message, by message id, in one query however many."""
    if not message_ids:
        return {}
    found: dict[int, list[int]] = {}
    query = select(mentions.c.message_id, mentions.c.user_id).where(mentions.c.message_id.in_(message_ids)).order_by(mentions.c.message_id, mentions.c.user_id)
    for row in await conn.execute(query):
        found.setdefault(row.message_id, []).append(row.user_id)
    return found


async def delete_for_message(conn: AsyncConnection, message_id: int) -> None:
    """A recalled message mentions nobody any more."""
    await conn.execute(delete(mentions).where(mentions.c.message_id == message_id))


def mention_count_column():
    """Correlated count for a member row: its mentions past its read marker (a recalled
    message's mentions are deleted with the recall). One range of (user_id, conversation_id, seq)."""
    return (
        select(func.count())
        .where(
            mentions.c.user_id == conversation_members.c.user_id,
            mentions.c.conversation_id == conversation_members.c.conversation_id,
            mentions.c.seq > conversation_members.c.last_read_seq,
        )
        .scalar_subquery()
        .label("mention_count")
    )
