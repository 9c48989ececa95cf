"""Group commit: several text messages stored and committed in one transaction, at a fixed
cost whatever the batch size.

On MySQL/MariaDB the whole transaction is one round trip: a stored procedure
(`storage.procedures.APPEND_BATCH`) takes the batch as one JSON document, commits, and answers
with one row of JSON; a batch of one message has a procedure of its own
(`storage.procedures.APPEND_ONE`) that takes it as plain arguments and answers alike. A
one-message batch, which is what an open loop at ordinary load makes, cost seven round trips
before (lock and advance, state, insert, id read-back, read markers, members, commit), each
through the pure-Python driver: ~1.4 ms of server CPU. On SQLite the same statements run one by
one through SQLAlchemy, the batch expanded by json_each.
Values that may be NULL travel as 0 or "" and are turned back by NULLIF, so nothing depends on
how each engine maps a JSON null."""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import orjson
from sqlalchemy import bindparam, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.clock import utc_now
from storage.engine import connection_lost
from storage.messages import NewMessage, mark_direct_read, message_row
from storage.procedures import APPEND_BATCH, APPEND_ONE
from storage.tables import CONVERSATION_DIRECT, conversations, messages


class BatchConversation(NamedTuple):
    type: int
    direct_low_id: int | None
    direct_high_id: int | None


class BatchAppended(NamedTuple):
    row: dict
    conversation: BatchConversation
    # The sender's read marker before this message.
    previous_read_seq: int
    # A direct reply past unread peer messages made them read: the peer hears `message.read`.
    read_peer_messages: bool


class CommittedBatch(NamedTuple):
    appended: list[BatchAppended]
    # Every member of each group conversation of the batch, read in its transaction.
    members: dict[int, list[int]]


class Refused(Exception):
    """Senders of a batch who may not write to the conversation: (conversation_id, sender_id)
    pairs of senders who are not members, and of members whom the other member of a direct
    conversation blocked."""

    def __init__(self, strangers: set[tuple[int, int]], blocked: set[tuple[int, int]]) -> None:
        super().__init__(f"{len(strangers)} senders are not members, {len(blocked)} are blocked")
        self.strangers = strangers
        self.blocked = blocked


async def append_batch(conn: AsyncConnection, batch: list[NewMessage]) -> CommittedBatch:
    """Store and commit text messages as `append_message` would one by one, each in its own
    transaction; seqs follow the batch's order within each conversation. `conn` must have no
    transaction open: the batch is one of its own. Raises Refused, with nothing written, when
    a sender is not a member or is blocked; the caller retries without those messages."""
    now = utc_now()
    if conn.dialect.name == "sqlite":
        async with conn.begin():
            return await _append_sqlite(conn, batch, now)
    return await _append_mysql(conn, batch, now)


# --- MySQL / MariaDB: one CALL ------------------------------------------------------------------


async def _append_mysql(conn: AsyncConnection, batch: list[NewMessage], now) -> CommittedBatch:
    driver = (await conn.get_raw_connection()).driver_connection
    refused, appended, members = (await _call(conn, driver, *batch_call(batch, now)))[0]
    if refused is not None:
        pairs = orjson.loads(refused)
        raise Refused({(c, u) for c, u, member in pairs if not member}, {(c, u) for c, u, member in pairs if member})
    result: list[BatchAppended | None] = [None] * len(batch)
    for ordinal, id_, seq, type_, low, high, previous, read_peer, *_ in orjson.loads(appended):
        new = batch[ordinal - 1]
        conversation = BatchConversation(type_, low, high)
        row = message_row(new, seq, _direct_peer(conversation, new.sender_id), now)
        row["id"] = id_
        result[ordinal - 1] = BatchAppended(row, conversation, previous, bool(read_peer))
    by_group: dict[int, list[int]] = {}
    for conversation_id, user_id in orjson.loads(members) if members is not None else ():
        by_group.setdefault(conversation_id, []).append(user_id)
    return CommittedBatch(result, by_group)


def batch_call(batch: list[NewMessage], now) -> tuple[str, tuple]:
    """The CALL that stores `batch`, and its arguments: a batch of one message has a procedure
    of its own, which takes it as plain arguments."""
    if len(batch) == 1:
        new = batch[0]
        statement = f"CALL {APPEND_ONE}(%s, %s, {_text_literal(new.content)}, %s, %s)"
        return statement, (new.conversation_id, new.sender_id, new.client_msg_id or "", now)
    return f"CALL {APPEND_BATCH}({_text_literal(_batch_document(batch))}, %s)", (now,)


def _text_literal(text: str) -> str:
    """`text` as a utf8mb4 string literal of SQL, written in hex: the driver escapes a string
    argument a character at a time (~140 us for a 64-message batch's document, 5% of the closed
    loop's samples), `bytes.hex` takes ~5 us. MySQL and MariaDB read it as the same string."""
    return f"_utf8mb4 X'{text.encode().hex()}'"


def _batch_document(batch: list[NewMessage]) -> str:
    """APPEND_BATCH's `batch` argument (see storage.procedures) for these messages."""
    per_conversation = Counter(new.conversation_id for new in batch)
    # How far below its conversation's new last_seq each message lands, and where the same
    # sender's previous message of the batch landed (see the procedure).
    left = dict(per_conversation)
    last_back: dict[tuple[int, int], int] = {}
    rows = []
    for new in batch:
        left[new.conversation_id] -= 1
        back = left[new.conversation_id]
        pair = (new.conversation_id, new.sender_id)
        rows.append((new.conversation_id, new.sender_id, new.content, new.client_msg_id or "", back, last_back.get(pair, -1)))
        last_back[pair] = back
    return _document_of(
        {"advance": sorted(per_conversation.items()), "rows": rows, "markers": [(c, u, back) for (c, u), back in last_back.items()]}
    )


async def _call(conn: AsyncConnection, driver, statement: str, params: tuple) -> list[tuple]:
    """`statement` on the aiomysql connection under `conn`. SQLAlchemy's async layer costs
    ~150 us of CPU per statement on top of the driver's ~110 us (measured with SELECT 1).
    Driver errors are raised as SQLAlchemy's, as if the statement had gone through it, and a
    lost connection is invalidated, as SQLAlchemy does. The error names the procedure only: the
    statement holds the messages' text (batch_call), which has no place in a log."""
    dialect = conn.dialect
    shown = statement.partition("(")[0]
    error = dialect.loaded_dbapi.Error
    async with driver.cursor() as cursor:
        try:
            await cursor.execute(statement, params)
            return await cursor.fetchall()
        except Exception as exc:
            lost = connection_lost(driver)
            if isinstance(exc, error):
                lost = lost or dialect.is_disconnect(exc, driver, cursor)
                raised = DBAPIError.instance(shown, params, exc, error, dialect=dialect, connection_invalidated=lost)
            elif lost:
                # uvloop raises RuntimeError for a write on a connection the server reset; as
                # for SQLAlchemy's own statements (the engine's handle_error), a lost connection.
                raised = OperationalError(shown, params, exc, connection_invalidated=True)
            else:
                raise
            if lost:
                # The pool must not hand this connection out again, nor a rollback be tried on it.
                await conn.invalidate(exc)
            raise raised from exc


# --- SQLite: statement by statement -------------------------------------------------------------

_ids = bindparam("ids", expanding=True)
_SQLITE_LOCK = update(conversations).where(conversations.c.id.in_(_ids)).values(updated_at=bindparam("now"))
_SQLITE_ADVANCE = update(conversations).where(conversations.c.id.in_(_ids)).values(last_seq=conversations.c.last_seq + bindparam("count"))
# [[conversation_id, user_id], ...] → [[id, type, low, high, last_seq, member?, last_read_seq], ...]
_SQLITE_STATE = text(
    """
    SELECT json_group_array(json_array(c.id, c.type, c.direct_low_id, c.direct_high_id, c.last_seq, m.user_id, m.last_read_seq, b.blocked_id))
    FROM json_each(:pairs) AS p
    JOIN conversations AS c ON c.id = json_extract(p.value, '$[0]')
    LEFT JOIN conversation_members AS m ON m.conversation_id = c.id AND m.user_id = json_extract(p.value, '$[1]')
    LEFT JOIN user_blocks AS b ON c.type = 1
        AND b.blocker_id = CASE WHEN c.direct_low_id = m.user_id THEN c.direct_high_id ELSE c.direct_low_id END AND b.blocked_id = m.user_id
    """
)
# [[conversation_id, seq], ...] → [[conversation_id, seq, id], ...]
_SQLITE_IDS = text(
    """
    SELECT json_group_array(json_array(m.conversation_id, m.seq, m.id))
    FROM json_each(:keys) AS k
    JOIN messages AS m ON m.conversation_id = json_extract(k.value, '$[0]') AND m.seq = json_extract(k.value, '$[1]')
    """
)
# [[conversation_id, user_id, seq], ...]
_SQLITE_MARKERS = text(
    """
    UPDATE conversation_members SET last_read_seq = max(last_read_seq, json_extract(k.value, '$[2]'))
    FROM json_each(:markers) AS k
    WHERE conversation_members.conversation_id = json_extract(k.value, '$[0]')
        AND conversation_members.user_id = json_extract(k.value, '$[1]')
    """
)
_SQLITE_MEMBERS = text(
    "SELECT conversation_id, json_group_array(user_id) FROM conversation_members WHERE conversation_id IN :ids GROUP BY conversation_id"
).bindparams(bindparam("ids", expanding=True))


async def _append_sqlite(conn: AsyncConnection, batch: list[NewMessage], now) -> CommittedBatch:
    # SQLite's write lock is the whole database's, taken at BEGIN (storage.engine): no order to keep.
    per_conversation = Counter(new.conversation_id for new in batch)
    ids = tuple(per_conversation)
    await conn.execute(_SQLITE_LOCK, {"now": now, "ids": ids})
    by_count: dict[int, list[int]] = {}
    for conversation_id, count in per_conversation.items():
        by_count.setdefault(count, []).append(conversation_id)
    for count, same in by_count.items():
        await conn.execute(_SQLITE_ADVANCE, {"count": count, "ids": tuple(same)})

    pairs = list(dict.fromkeys((new.conversation_id, new.sender_id) for new in batch))
    found: dict[int, BatchConversation] = {}
    last_seqs: dict[int, int] = {}
    markers: dict[tuple[int, int], int] = {}
    blocked: set[tuple[int, int]] = set()
    for conversation_id, type_, low, high, last_seq, member_id, last_read_seq, blocked_id in await _fetch_json(conn, _SQLITE_STATE, pairs=pairs):
        found[conversation_id] = BatchConversation(type_, low, high)
        last_seqs[conversation_id] = last_seq
        if member_id is not None:
            markers[(conversation_id, member_id)] = last_read_seq
        if blocked_id is not None:
            blocked.add((conversation_id, blocked_id))
    strangers = {pair for pair in pairs if pair not in markers}
    if strangers or blocked:
        raise Refused(strangers, blocked)

    next_seq = {conversation_id: last_seqs[conversation_id] - count + 1 for conversation_id, count in per_conversation.items()}
    rows = []
    for new in batch:
        seq = next_seq[new.conversation_id]
        next_seq[new.conversation_id] = seq + 1
        rows.append(message_row(new, seq, _direct_peer(found[new.conversation_id], new.sender_id), now))
    # json_extract cuts a string at a NUL character; the SQLite driver binds values in C, so a
    # plain executemany costs little here.
    await conn.execute(messages.insert(), rows)
    stored = {(c, s): i for c, s, i in await _fetch_json(conn, _SQLITE_IDS, keys=[[r["conversation_id"], r["seq"]] for r in rows])}

    newest_by_sender: dict[tuple[int, int], int] = {}
    for row in rows:
        row["id"] = stored[(row["conversation_id"], row["seq"])]
        newest_by_sender[(row["conversation_id"], row["sender_id"])] = row["seq"]
    await conn.execute(_SQLITE_MARKERS, {"markers": _document_of([c, u, s] for (c, u), s in newest_by_sender.items())})

    result = []
    for row in rows:
        pair = (row["conversation_id"], row["sender_id"])
        conversation = found[row["conversation_id"]]
        previous = markers[pair]
        read_peer = (
            conversation.type == CONVERSATION_DIRECT
            and previous < row["seq"] - 1
            and await mark_direct_read(conn, row["conversation_id"], row["sender_id"], row["seq"]) > 0
        )
        result.append(BatchAppended(row, conversation, previous, read_peer))
        markers[pair] = max(previous, row["seq"])
    groups = sorted({r.row["conversation_id"] for r in result if r.conversation.type != CONVERSATION_DIRECT})
    return CommittedBatch(result, await _member_ids_sqlite(conn, groups) if groups else {})


async def _member_ids_sqlite(conn: AsyncConnection, conversation_ids: list[int]) -> dict[int, list[int]]:
    """One row per conversation with its members as one JSON array: a 1,000-member group read
    as 1,000 rows took half the server's time in the fan-out benchmark."""
    members: dict[int, list[int]] = {conversation_id: [] for conversation_id in conversation_ids}
    for conversation_id, user_ids in await conn.execute(_SQLITE_MEMBERS, {"ids": tuple(conversation_ids)}):
        members[conversation_id] = orjson.loads(user_ids)
    return members


def _document_of(value) -> str:
    return orjson.dumps(value if isinstance(value, dict) else list(value)).decode()


async def _fetch_json(conn: AsyncConnection, statement, **documents) -> list:
    """The statement's one JSON value; an aggregate over no rows may be NULL."""
    value = await conn.scalar(statement, {name: _document_of(items) for name, items in documents.items()})
    return orjson.loads(value) if value is not None else []


def _direct_peer(conversation: BatchConversation, sender_id: int) -> int | None:
    if conversation.direct_low_id is None:
        return None
    return conversation.direct_high_id if conversation.direct_low_id == sender_id else conversation.direct_low_id
