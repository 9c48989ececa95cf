"""The plugin's own table and its queries, kept apart from its handler as the server does."""

from sqlalchemy import BigInteger, Column, DateTime, MetaData, PrimaryKeyConstraint, String, Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = MetaData()

reactions = Table(
    "plugin_reactions",
    metadata,
    Column("message_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("emoji", String(32), nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.current_timestamp()),
    PrimaryKeyConstraint("message_id", "user_id", "emoji"),
    mysql_charset="utf8mb4",
)


async def add(conn: AsyncConnection, message_id: int, user_id: int, emoji: str) -> bool:
    """True when the reaction is new; the same reaction twice is kept once."""
    try:
        async with conn.begin_nested():
            await conn.execute(reactions.insert().values(message_id=message_id, user_id=user_id, emoji=emoji))
    except IntegrityError:
        return False
    return True


async def counts(conn: AsyncConnection, message_id: int) -> dict[str, int]:
    query = select(reactions.c.emoji, func.count()).where(reactions.c.message_id == message_id).group_by(reactions.c.emoji)
    return {emoji: count for emoji, count in await conn.execute(query)}
