"""MessageVOs of stored rows with what they quote, their reactions and mentions: each read in one
query each per call, however many rows, as they are now (an edit or a recall of the quoted
message shows in the reply)."""

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from handlers.objects import REACTION_USERS_SHOWN, message_vo, reaction_vos
from storage import mentions as mention_store
from storage import messages as message_store
from storage import reactions as reaction_store
from storage.tables import MSG_TEXT, STATUS_RECALLED


async def message_vos(conn: AsyncConnection, rows: list[Row], viewer_id: int | None = None) -> list[dict]:
    """`viewer_id`: the one caller the answer is for, whose own reactions are marked (`me`)."""
    quoted = await message_store.get_messages(conn, {row.reply_to_id for row in rows if row.reply_to_id is not None})
    reacted = await reaction_store.summaries(
        conn, {row.id for row in rows if row.status != STATUS_RECALLED}, shown=REACTION_USERS_SHOWN, viewer_id=viewer_id
    )
    mentioned = await mention_store.of_messages(conn, {row.id for row in rows if may_mention(row)})
    mine = viewer_id is not None
    return [
        message_vo(row, quoted.get(row.reply_to_id), reaction_vos(reacted.get(row.id, ()), for_viewer=mine), mentioned.get(row.id, []))
        for row in rows
    ]


def may_mention(row: Row) -> bool:
    """Whether the row may have mentions: a text message sent with an '@' in it (an edit may
    have taken the '@' out since), not recalled. Rows that cannot cost no query."""
    return row.status != STATUS_RECALLED and row.msg_type == MSG_TEXT and ("@" in row.content or row.edited_at is not None)


async def message_view(conn: AsyncConnection, row: Row, *, viewer_id: int | None = None, **changes: Any) -> dict:
    """The MessageVO of `row` with `changes` made to it (a change just written)."""
    quoted = await message_store.get_message(conn, row.reply_to_id) if row.reply_to_id is not None else None
    status = changes.get("status", row.status)
    reacted = await reaction_store.summaries(conn, {row.id}, shown=REACTION_USERS_SHOWN, viewer_id=viewer_id) if status != STATUS_RECALLED else {}
    reactions = reaction_vos(reacted.get(row.id, ()), for_viewer=viewer_id is not None)
    mentioned = await mention_store.of_messages(conn, {row.id}) if status != STATUS_RECALLED and may_mention(row) else {}
    return message_vo({**row._mapping, **changes} if changes else row, quoted, reactions, mentioned.get(row.id, []))
