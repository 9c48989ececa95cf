"""Queries on `messages`. `append_message` (one message) and `append_batch` (group commit) are
the only ways a message is written, so the write path (sequence allocation, the sender's read
marker) lives in this one place."""

from dataclasses import dataclass

from sqlalchemy import Row, bindparam, func, select, tuple_, update
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.clock import utc_now
from storage.tables import STATUS_READ, STATUS_RECALLED, STATUS_UNREAD, conversation_members, conversations, messages


@dataclass(frozen=True, slots=True)
class NewMessage:
    conversation_id: int
    sender_id: int
    receiver_id: int | None
    content: str
    msg_type: int
    client_msg_id: str | None
    file_id: int | None = None


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
    row = _message_row(new, seq, new.receiver_id, now)
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


def _message_row(new: NewMessage, seq: int, receiver_id: int | None, now) -> dict:
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
        created_at=now,
    )


async def find_by_client_msg_id(conn: AsyncConnection, sender_id: int, client_msg_id: str) -> Row | None:
    query = select(messages).where(messages.c.sender_id == sender_id, messages.c.client_msg_id == client_msg_id)
    return (await conn.execute(query)).first()


async def get_message(conn: AsyncConnection, message_id: int) -> Row | None:
    return (await conn.execute(select(messages).where(messages.c.id == message_id))).first()


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


async def mark_recalled(conn: AsyncConnection, message_id: int) -> None:
    await conn.execute(update(messages).where(messages.c.id == message_id).values(status=STATUS_RECALLED))


async def last_message(conn: AsyncConnection, conversation_id: int, last_seq: int) -> Row | None:
    query = select(messages).where(messages.c.conversation_id == conversation_id, messages.c.seq == last_seq)
    return (await conn.execute(query)).first()


async def last_messages(conn: AsyncConnection, keys: list[tuple[int, int]]) -> dict[int, Row]:
    """The last message of each (conversation_id, last_seq), by conversation id, in one query."""
    if not keys:
        return {}

    query = select(messages).where(tuple_(messages.c.conversation_id, messages.c.seq).in_(keys))
    return {row.conversation_id: row for row in await conn.execute(query)}


@dataclass(frozen=True, slots=True)
class BatchConversation:
    type: int
    direct_low_id: int | None
    direct_high_id: int | None


@dataclass(frozen=True, slots=True)
class BatchAppended:
    row: dict
    conversation: BatchConversation
    # The sender's read marker before this message: a direct reply past unread peer messages
    # makes them read.
    previous_read_seq: int


class NotMembers(Exception):
    """Senders of a batch that are not members of the conversation they write to."""

    def __init__(self, pairs: set[tuple[int, int]]) -> None:
        super().__init__(f"{len(pairs)} senders are not members")
        self.pairs = pairs


_ids = bindparam("ids", expanding=True)
_pairs = bindparam("pairs", expanding=True)
_keys = bindparam("keys", expanding=True)
# One statement takes every row lock of the batch, in primary key order, so two batches (of
# this process or another) always lock in the same order and cannot deadlock.
_LOCK = update(conversations).where(conversations.c.id.in_(_ids)).values(updated_at=bindparam("now"))
_ADVANCE = update(conversations).where(conversations.c.id.in_(_ids)).values(last_seq=conversations.c.last_seq + bindparam("count"))
_CONVERSATIONS = select(
    conversations.c.id, conversations.c.type, conversations.c.direct_low_id, conversations.c.direct_high_id, conversations.c.last_seq
).where(conversations.c.id.in_(_ids))
_MEMBERSHIPS = select(conversation_members.c.conversation_id, conversation_members.c.user_id, conversation_members.c.last_read_seq).where(
    tuple_(conversation_members.c.conversation_id, conversation_members.c.user_id).in_(_pairs)
)
_INSERTED = select(messages.c.id, messages.c.conversation_id, messages.c.seq).where(tuple_(messages.c.conversation_id, messages.c.seq).in_(_keys))


async def append_batch(conn: AsyncConnection, batch: list[NewMessage]) -> list[BatchAppended]:
    """Store several text messages in one transaction: what `append_message` does for one, in
    a fixed number of statements whatever the batch size (group commit).

    Conversations are locked in id order by one UPDATE, then advanced by one UPDATE per
    distinct message count. Within a conversation, seqs follow the batch's order. Raises NotMembers, before anything is inserted, when a sender is not a
    member; the caller rolls back and retries without those messages."""
    now = utc_now()
    per_conversation: dict[int, int] = {}
    for new in batch:
        per_conversation[new.conversation_id] = per_conversation.get(new.conversation_id, 0) + 1
    await conn.execute(_LOCK, {"ids": sorted(per_conversation), "now": now})
    by_count: dict[int, list[int]] = {}
    for conversation_id, count in sorted(per_conversation.items()):
        by_count.setdefault(count, []).append(conversation_id)
    for count, ids in sorted(by_count.items()):
        await conn.execute(_ADVANCE, {"ids": ids, "count": count})
    found: dict[int, BatchConversation] = {}
    last_seqs: dict[int, int] = {}
    for row in await conn.execute(_CONVERSATIONS, {"ids": list(per_conversation)}):
        found[row.id] = BatchConversation(row.type, row.direct_low_id, row.direct_high_id)
        last_seqs[row.id] = row.last_seq

    pairs = {(new.conversation_id, new.sender_id) for new in batch}
    markers = {(row.conversation_id, row.user_id): row.last_read_seq for row in await conn.execute(_MEMBERSHIPS, {"pairs": list(pairs)})}
    strangers = {pair for pair in pairs if pair not in markers}
    if strangers:
        raise NotMembers(strangers)

    next_seq = {conversation_id: last_seqs[conversation_id] - count + 1 for conversation_id, count in per_conversation.items()}
    rows = []
    for new in batch:
        seq = next_seq[new.conversation_id]
        next_seq[new.conversation_id] = seq + 1
        rows.append(_message_row(new, seq, _direct_peer(found[new.conversation_id], new.sender_id), now))
    await conn.execute(messages.insert(), rows)
    ids = {(row.conversation_id, row.seq): row.id for row in await conn.execute(_INSERTED, {"keys": [(r["conversation_id"], r["seq"]) for r in rows]})}

    newest_by_sender: dict[tuple[int, int], int] = {}
    for row in rows:
        row["id"] = ids[(row["conversation_id"], row["seq"])]
        newest_by_sender[(row["conversation_id"], row["sender_id"])] = row["seq"]
    await _advance_markers(conn, newest_by_sender)

    result = []
    for row in rows:
        pair = (row["conversation_id"], row["sender_id"])
        result.append(BatchAppended(row, found[row["conversation_id"]], markers[pair]))
        markers[pair] = max(markers[pair], row["seq"])
    return result


def _direct_peer(conversation: BatchConversation, sender_id: int) -> int | None:
    if conversation.direct_low_id is None:
        return None
    return conversation.direct_high_id if conversation.direct_low_id == sender_id else conversation.direct_low_id


def _marker_upserts() -> dict[str, object]:
    """The read-marker upsert per dialect, built once so its compiled form is cached."""
    mysql_upsert = mysql_insert(conversation_members)
    mysql_upsert = mysql_upsert.on_duplicate_key_update(
        last_read_seq=func.greatest(conversation_members.c.last_read_seq, mysql_upsert.inserted.last_read_seq)
    )
    sqlite_upsert = sqlite_insert(conversation_members)
    sqlite_upsert = sqlite_upsert.on_conflict_do_update(
        index_elements=["conversation_id", "user_id"],
        set_={"last_read_seq": func.max(conversation_members.c.last_read_seq, sqlite_upsert.excluded.last_read_seq)},
    )
    return {"mysql": mysql_upsert, "mariadb": mysql_upsert, "sqlite": sqlite_upsert}


_MARKER_UPSERTS = _marker_upserts()


async def _advance_markers(conn: AsyncConnection, seqs: dict[tuple[int, int], int]) -> None:
    """Each (conversation, member)'s read marker forward to its seq, in one statement (the
    MySQL driver sends a parameter list as one multi-row INSERT). The rows exist: membership
    was checked under the conversation locks, which removals also take, so the upsert only
    ever updates."""
    now = utc_now()
    values = [dict(conversation_id=c, user_id=u, last_read_seq=s, role=1, joined_at=now) for (c, u), s in seqs.items()]
    await conn.execute(_MARKER_UPSERTS[conn.dialect.name], values)


async def member_ids_of_many(conn: AsyncConnection, conversation_ids: list[int]) -> dict[int, list[int]]:
    members: dict[int, list[int]] = {conversation_id: [] for conversation_id in conversation_ids}
    query = select(conversation_members.c.conversation_id, conversation_members.c.user_id).where(conversation_members.c.conversation_id.in_(_ids))
    for row in await conn.execute(query, {"ids": conversation_ids}):
        members[row.conversation_id].append(row.user_id)
    return members
