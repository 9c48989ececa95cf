"""Queries on `conversation_notices`: what happened to a group besides its messages.

The caller owns the transaction: a notice is written in the one that makes the change it
tells of, so it exists exactly when that change committed, and with the conversation's row
lock held (storage.conversations.get_membership(lock=True)), so that its `after_seq` is the
last message before it and no message can take `after_seq + 1` ahead of it."""

from typing import Any, NamedTuple

import orjson
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.clock import utc_now
from storage.tables import conversation_notices

notices = conversation_notices

CREATED = "created"
ADDED = "added"
REMOVED = "removed"
LEFT = "left"
RENAMED = "renamed"
ROLE = "role"
OWNER = "owner"


class Notice(NamedTuple):
    """A stored notice; `data` is the decoded JSON object (or None)."""

    id: int
    conversation_id: int
    after_seq: int
    kind: str
    actor_id: int
    subject_id: int | None
    data: dict[str, Any] | None
    created_at: Any


async def add_notice(
    conn: AsyncConnection,
    conversation_id: int,
    *,
    after_seq: int,
    kind: str,
    actor_id: int,
    subject_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> Notice:
    now = utc_now()
    encoded = orjson.dumps(data).decode() if data is not None else None
    result = await conn.execute(
        notices.insert().values(
            conversation_id=conversation_id, after_seq=after_seq, kind=kind, actor_id=actor_id, subject_id=subject_id, data=encoded, created_at=now
        )
    )
    return Notice(result.inserted_primary_key[0], conversation_id, after_seq, kind, actor_id, subject_id, data, now)


async def between(conn: AsyncConnection, conversation_id: int, low: int, high: int | None) -> list[Notice]:
    """The notices with `low <= after_seq <= high` (no upper end when `high` is None), in the
    order they happened: by after_seq, then by id (several may follow one message)."""
    query = select(notices).where(notices.c.conversation_id == conversation_id, notices.c.after_seq >= low)
    if high is not None:
        query = query.where(notices.c.after_seq <= high)
    rows = (await conn.execute(query.order_by(notices.c.after_seq, notices.c.id))).all()
    return [
        Notice(row.id, row.conversation_id, row.after_seq, row.kind, row.actor_id, row.subject_id, orjson.loads(row.data) if row.data else None, row.created_at)
        for row in rows
    ]


async def delete_for_conversation(conn: AsyncConnection, conversation_id: int) -> None:
    """Explicit, as storage.conversations.delete_conversation deletes the rest: SQLite honours
    ON DELETE CASCADE only with foreign keys switched on for the connection."""
    await conn.execute(delete(notices).where(notices.c.conversation_id == conversation_id))
