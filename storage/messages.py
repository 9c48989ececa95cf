"""Queries on `messages`. `append_message` (one message) and `message_batch.append_batch` (group
commit) are the only ways a message is written: sequence allocation and the sender's read marker
live in these two places."""

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Row, func, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import search
from storage.clock import utc_now
from storage.tables import (
    STATUS_READ,
    STATUS_RECALLED,
    STATUS_UNREAD,
    conversation_members,
    conversations,
    message_changes,
    message_edits,
    messages,
)


class NewMessage(NamedTuple):
    """A message to store. A tuple, not a frozen dataclass: one is made per message sent, and a
    frozen dataclass takes three times as long to build."""

    conversation_id: int
    sender_id: int
    receiver_id: int | None
    content: str
    msg_type: int
    client_msg_id: str | None
    file_id: int | None = None
    reply_to_id: int | None = None
    # A forward: the original sender (of the first message of a chain of forwards) and the
    # message forwarded.
    forwarded_sender_id: int | None = None
    forwarded_message_id: int | None = None


async def append_message(conn: AsyncConnection, new: NewMessage) -> dict:
    """Store `new` at the conversation's next seq and return the stored row as a dict.

    The UPDATE takes the conversation row's write lock (MySQL row lock; SQLite's BEGIN
    IMMEDIATE already holds the database's), so concurrent senders to one conversation, in
    this process or another, get consecutive seqs in commit order. A rollback (e.g. a racing
    duplicate client_msg_id) gives the seq back with the rest of the transaction: no gaps."""
    now = utc_now()
    await conn.execute(
        update(conversations).where(conversations.c.id == new.conversation_id).values(last_seq=conversations.c.last_seq + 1, updated_at=now)
    )
    seq = (await conn.execute(select(conversations.c.last_seq).where(conversations.c.id == new.conversation_id))).scalar_one()
    row = message_row(new, seq, new.receiver_id, now)
    if new.forwarded_sender_id is not None:
        row.update(forwarded_sender_id=new.forwarded_sender_id, forwarded_message_id=new.forwarded_message_id)
    result = await conn.execute(messages.insert().values(**row))
    row["id"] = result.inserted_primary_key[0]
    await conn.execute(
        update(conversation_members)
        .where(
            conversation_members.c.conversation_id == new.conversation_id,
            conversation_members.c.user_id == new.sender_id,
            conversation_members.c.last_read_seq < seq,
        )
        .values(last_read_seq=seq)
    )
    return row


def message_row(new: NewMessage, seq: int, receiver_id: int | None, now) -> dict:
    return dict(
        conversation_id=new.conversation_id,
        seq=seq,
        sender_id=new.sender_id,
        receiver_id=receiver_id,
        content=new.content,
        msg_type=new.msg_type,
        status=STATUS_UNREAD,
        client_msg_id=new.client_msg_id,
        file_id=new.file_id,
        reply_to_id=new.reply_to_id,
        created_at=now,
    )


async def find_by_client_msg_id(conn: AsyncConnection, sender_id: int, client_msg_id: str) -> Row | None:
    query = select(messages).where(messages.c.sender_id == sender_id, messages.c.client_msg_id == client_msg_id)
    return (await conn.execute(query)).first()


async def get_message(conn: AsyncConnection, message_id: int, *, lock: bool = False) -> Row | None:
    """`lock`: read the latest committed version and hold the row until the transaction ends."""
    query = select(messages).where(messages.c.id == message_id)
    return (await conn.execute(query.with_for_update() if lock else query)).first()


async def get_messages(conn: AsyncConnection, message_ids: set[int]) -> dict[int, Row]:
    if not message_ids:
        return {}
    return {row.id: row for row in await conn.execute(select(messages).where(messages.c.id.in_(message_ids)))}


async def page(conn: AsyncConnection, conversation_id: int, *, before: int | None, after: int | None, limit: int) -> list[Row]:
    """A page of messages by seq ascending: after `after`, else just below `before`, else the newest."""
    query = select(messages).where(messages.c.conversation_id == conversation_id).limit(limit)
    if after is not None:
        return list(await conn.execute(query.where(messages.c.seq > after).order_by(messages.c.seq)))
    if before is not None:
        query = query.where(messages.c.seq < before)
    rows = list(await conn.execute(query.order_by(messages.c.seq.desc())))
    rows.reverse()
    return rows


async def newest_seq_at_or_before(conn: AsyncConnection, conversation_id: int, below_seq: int, moment: datetime) -> int:
    """The highest seq below `below_seq` created at or before `moment`, else 0. Walks the
    (conversation_id, seq) index down from `below_seq`: only the messages newer than `moment`
    are passed over."""
    query = (
        select(messages.c.seq)
        .where(messages.c.conversation_id == conversation_id, messages.c.seq < below_seq, messages.c.created_at <= moment)
        .order_by(messages.c.seq.desc())
        .limit(1)
    )
    return (await conn.scalar(query)) or 0


async def seq_range(conn: AsyncConnection, conversation_id: int, from_seq: int, to_seq: int) -> list[Row]:
    """Messages `from_seq`..`to_seq` (inclusive) in seq order."""
    query = (
        select(messages)
        .where(messages.c.conversation_id == conversation_id, messages.c.seq >= from_seq, messages.c.seq <= to_seq)
        .order_by(messages.c.seq)
    )
    return list(await conn.execute(query))


async def mark_direct_read(conn: AsyncConnection, conversation_id: int, reader_id: int, up_to_seq: int) -> int:
    """Seed 000's read status: the peer's unread messages up to the marker become read.
    Returns how many did."""
    result = await conn.execute(
        update(messages)
        .where(
            messages.c.conversation_id == conversation_id,
            messages.c.seq <= up_to_seq,
            messages.c.sender_id != reader_id,
            messages.c.status == STATUS_UNREAD,
        )
        .values(status=STATUS_READ)
    )
    return result.rowcount


async def mark_recalled(conn: AsyncConnection, message_id: int, change_seq: int, recalled_by: int | None = None) -> None:
    """`recalled_by`: the moderator, when the sender did not recall it."""
    values = dict(status=STATUS_RECALLED, change_seq=change_seq, recalled_by=recalled_by)
    await conn.execute(update(messages).where(messages.c.id == message_id).values(**values))
    await search.unindex_message(conn, message_id)


async def record_change(conn: AsyncConnection, conversation_id: int, message_id: int) -> int:
    """The conversation's next change seq, allocated to a change of `message_id`. Call it with
    the conversation's row lock held (`get_membership(lock=True)`): changes then get
    consecutive change seqs in commit order, and a rollback gives the seq back."""
    where = conversations.c.id == conversation_id
    await conn.execute(update(conversations).where(where).values(last_change_seq=conversations.c.last_change_seq + 1))
    change_seq = (await conn.execute(select(conversations.c.last_change_seq).where(where))).scalar_one()
    await conn.execute(insert(message_changes).values(conversation_id=conversation_id, change_seq=change_seq, message_id=message_id))
    return change_seq


async def set_change_seq(conn: AsyncConnection, message_id: int, change_seq: int) -> None:
    """Record a change that leaves the message's own columns as they are (a reaction)."""
    await conn.execute(update(messages).where(messages.c.id == message_id).values(change_seq=change_seq))


async def edit_content(conn: AsyncConnection, message: Row, content: str, change_seq: int, now: datetime) -> None:
    """Keep the current content as a version and put `content` in its place."""
    version = await conn.scalar(select(func.count()).select_from(message_edits).where(message_edits.c.message_id == message.id))
    written_at = message.edited_at or message.created_at
    await conn.execute(insert(message_edits).values(message_id=message.id, version=version + 1, content=message.content, created_at=written_at))
    await conn.execute(update(messages).where(messages.c.id == message.id).values(content=content, edited_at=now, change_seq=change_seq))
    await search.reindex_message(conn, message.id, message.conversation_id, message.msg_type, content)


async def versions(conn: AsyncConnection, message_id: int) -> list[Row]:
    """The versions an edit replaced, oldest first."""
    query = select(message_edits).where(message_edits.c.message_id == message_id).order_by(message_edits.c.version)
    return list(await conn.execute(query))


async def changed_page(conn: AsyncConnection, conversation_id: int, *, changed_after: int, limit: int) -> list[Row]:
    """Messages changed after change seq `changed_after`, each once (at its latest change), by
    change seq ascending."""
    query = (
        select(messages)
        .join(message_changes, message_changes.c.message_id == messages.c.id)
        .where(
            message_changes.c.conversation_id == conversation_id,
            message_changes.c.change_seq > changed_after,
            messages.c.change_seq == message_changes.c.change_seq,
        )
        .order_by(message_changes.c.change_seq)
        .limit(limit)
    )
    return list(await conn.execute(query))


async def last_message(conn: AsyncConnection, conversation_id: int, last_seq: int) -> Row | None:
    query = select(messages).where(messages.c.conversation_id == conversation_id, messages.c.seq == last_seq)
    return (await conn.execute(query)).first()


async def last_messages(conn: AsyncConnection, keys: list[tuple[int, int]]) -> dict[int, Row]:
    """The last message of each (conversation_id, last_seq), by conversation id, in one query."""
    if not keys:
        return {}

    query = select(messages).where(tuple_(messages.c.conversation_id, messages.c.seq).in_(keys))
    return {row.conversation_id: row for row in await conn.execute(query)}
