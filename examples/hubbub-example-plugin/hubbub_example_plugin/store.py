"""The plugin's own table and its queries, kept apart from its handler as the server does."""

from sqlalchemy import BigInteger, Column, DateTime, MetaData, PrimaryKeyConstraint, Table, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = MetaData()

pins = Table(
    "plugin_pins",
    metadata,
    Column("conversation_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("pinned_by", BigInteger, nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.current_timestamp()),
    PrimaryKeyConstraint("conversation_id", "message_id"),
)


async def pin(conn: AsyncConnection, conversation_id: int, message_id: int, user_id: int) -> bool:
    """True when the message was not pinned yet; a pinned message stays pinned once."""
    try:
        async with conn.begin_nested():
            await conn.execute(pins.insert().values(conversation_id=conversation_id, message_id=message_id, pinned_by=user_id))
    except IntegrityError:
        return False
    return True


async def unpin(conn: AsyncConnection, conversation_id: int, message_id: int) -> bool:
    result = await conn.execute(delete(pins).where(pins.c.conversation_id == conversation_id, pins.c.message_id == message_id))
    return result.rowcount > 0


async def pinned(conn: AsyncConnection, conversation_id: int) -> list[int]:
    """The conversation's pinned message ids, oldest message first."""
    query = select(pins.c.message_id).where(pins.c.conversation_id == conversation_id).order_by(pins.c.message_id)
    return list(await conn.scalars(query))
