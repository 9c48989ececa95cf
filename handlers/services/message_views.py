"""MessageVOs of stored rows with what they quote: the quoted messages are read in one query
per call, as they are now (an edit or a recall of the quoted message shows in the reply)."""

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from handlers.objects import message_vo
from storage import messages as message_store


async def message_vos(conn: AsyncConnection, rows: list[Row]) -> list[dict]:
    quoted = await message_store.get_messages(conn, {row.reply_to_id for row in rows if row.reply_to_id is not None})
    return [message_vo(row, quoted.get(row.reply_to_id)) for row in rows]


async def message_view(conn: AsyncConnection, row: Row, **changes: Any) -> dict:
    """The MessageVO of `row` with `changes` made to it (a change just written)."""
    quoted = await message_store.get_message(conn, row.reply_to_id) if row.reply_to_id is not None else None
    return message_vo({**row._mapping, **changes} if changes else row, quoted)
