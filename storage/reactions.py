"""Queries on `message_reactions`. Callers hold the message's row lock (see
`handlers.services.reactions`), so that a check and the write after it see the same reactions."""

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import case, delete, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import message_reactions

reactions = message_reactions


class ReactionSummary(NamedTuple):
    """One emoji on one message: how many reacted with it, the first `shown` of them in the
    order they reacted, and whether the viewer is among all of them."""

    emoji: str
    count: int
    user_ids: list[int]
    mine: bool


async def emojis_of(conn: AsyncConnection, message_id: int) -> set[str]:
    """The distinct emoji the message has."""
    return set(await conn.scalars(select(reactions.c.emoji).where(reactions.c.message_id == message_id).distinct()))


async def has(conn: AsyncConnection, message_id: int, user_id: int, emoji: str) -> bool:
    query = select(literal(1)).where(reactions.c.message_id == message_id, reactions.c.user_id == user_id, reactions.c.emoji == emoji)
    return (await conn.scalar(query)) is not None


async def add(conn: AsyncConnection, conversation_id: int, message_id: int, user_id: int, emoji: str, now: datetime) -> None:
    await conn.execute(
        insert(reactions).values(message_id=message_id, emoji=emoji, user_id=user_id, conversation_id=conversation_id, created_at=now)
    )


async def remove(conn: AsyncConnection, message_id: int, user_id: int, emoji: str) -> bool:
    """True when there was such a reaction."""
    result = await conn.execute(delete(reactions).where(reactions.c.message_id == message_id, reactions.c.user_id == user_id, reactions.c.emoji == emoji))
    return result.rowcount > 0


async def delete_for_message(conn: AsyncConnection, message_id: int) -> None:
    """A recalled message keeps no reactions."""
    await conn.execute(delete(reactions).where(reactions.c.message_id == message_id))


async def summaries(conn: AsyncConnection, message_ids: set[int], *, shown: int, viewer_id: int | None = None) -> dict[int, list[ReactionSummary]]:
    """The reactions of these messages, by message id, in one query however many messages:
    per emoji its count, its first `shown` users and whether `viewer_id` reacted with it,
    emoji in the order they were first used. Only `shown` rows per emoji leave the database."""
    if not message_ids:
        return {}
    per_emoji = {"partition_by": (reactions.c.message_id, reactions.c.emoji)}
    mine = func.max(case((reactions.c.user_id == viewer_id, 1), else_=0)) if viewer_id is not None else func.max(literal(0))
    ranked = (
        select(
            reactions.c.message_id,
            reactions.c.emoji,
            reactions.c.user_id,
            func.row_number().over(**per_emoji, order_by=(reactions.c.created_at, reactions.c.user_id)).label("position"),
            func.count().over(**per_emoji).label("total"),
            func.min(reactions.c.created_at).over(**per_emoji).label("first_at"),
            mine.over(**per_emoji).label("mine"),
        )
        .where(reactions.c.message_id.in_(message_ids))
        .subquery()
    )
    query = (
        select(ranked)
        .where(ranked.c.position <= shown)
        .order_by(ranked.c.message_id, ranked.c.first_at, ranked.c.emoji, ranked.c.position)
    )
    result: dict[int, list[ReactionSummary]] = {}
    for row in await conn.execute(query):
        found = result.setdefault(row.message_id, [])
        if not found or found[-1].emoji != row.emoji:
            found.append(ReactionSummary(row.emoji, row.total, [], bool(row.mine)))
        found[-1].user_ids.append(row.user_id)
    return result
