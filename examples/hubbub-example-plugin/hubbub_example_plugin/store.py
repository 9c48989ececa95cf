"""The plugin's own table and its queries, kept apart from its handler as the server does. The
table itself is made and changed by the plugin's migrations (hubbub_example_plugin/migrations),
which `hubbub migrate` runs; this is its shape for the queries."""

from sqlalchemy import BigInteger, Column, DateTime, MetaData, PrimaryKeyConstraint, String, Table, delete, func, select
from sqlalchemy.exc import IntegrityError

from handlers.api import Connection

metadata = MetaData()

pins = Table(
    "plugin_pins",
    metadata,
    Column("conversation_id", BigInteger, nullable=False),
    Column("message_id", BigInteger, nullable=False),
    Column("pinned_by", BigInteger, nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.current_timestamp()),
    Column("note", String(200), nullable=True),
    PrimaryKeyConstraint("conversation_id", "message_id"),
)


async def pin(conn: Connection, conversation_id: int, message_id: int, user_id: int, note: str | None = None) -> bool:
    """True when the message was not pinned yet; a pinned message stays pinned once."""
    try:
        async with conn.begin_nested():
            await conn.execute(pins.insert().values(conversation_id=conversation_id, message_id=message_id, pinned_by=user_id, note=note))
    except IntegrityError:
        return False
    return True


async def unpin(conn: Connection, conversation_id: int, message_id: int) -> bool:
    result = await conn.execute(delete(pins).where(pins.c.conversation_id == conversation_id, pins.c.message_id == message_id))
    return result.rowcount > 0


async def pinned(conn: Connection, conversation_id: int) -> list[int]:
    """The conversation's pinned message ids, oldest message first."""
    query = select(pins.c.message_id).where(pins.c.conversation_id == conversation_id).order_by(pins.c.message_id)
    return list(await conn.scalars(query))


async def listed(conn: Connection, conversation_id: int) -> list[dict]:
    """The conversation's pins, oldest message first."""
    query = select(pins.c.message_id, pins.c.pinned_by, pins.c.note).where(pins.c.conversation_id == conversation_id).order_by(pins.c.message_id)
    return [{"message_id": row.message_id, "pinned_by": row.pinned_by, "note": row.note} for row in await conn.execute(query)]


async def forget_message(conn: Connection, conversation_id: int, message_id: int) -> int:
    result = await conn.execute(delete(pins).where(pins.c.conversation_id == conversation_id, pins.c.message_id == message_id))
    return result.rowcount


async def forget_conversation(conn: Connection, conversation_id: int) -> int:
    result = await conn.execute(delete(pins).where(pins.c.conversation_id == conversation_id))
    return result.rowcount
