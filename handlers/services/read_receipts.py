"""Who has read a message, from the members' read markers alone: a member has read every
message up to its marker, so nothing is stored per message and sending costs nothing more."""

from sqlalchemy.ext.asyncio import AsyncConnection

from storage import conversations as conversation_store
from storage.clock import to_millis


async def add_read_counts(conn: AsyncConnection, vos: list[dict], conversation_id: int, viewer_id: int) -> list[dict]:
    """Put `read_count` (how many other members who were there when it was sent have their
    marker at or past it) in the viewer's own messages of a group's history page: one query per
    page, none without own messages."""
    own = [vo for vo in vos if vo["sender_id"] == viewer_id]
    if not own:
        return vos
    others = [(to_millis(row.joined_at), row.last_read_seq) for row in await conversation_store.read_markers(conn, conversation_id) if row.user_id != viewer_id]
    for vo in own:
        seq, sent_at = vo["seq"], vo["created_at"]
        vo["read_count"] = sum(1 for joined_at, marker in others if marker >= seq and joined_at <= sent_at)
    return vos
