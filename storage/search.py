"""Queries on `message_search`: keeping a message's search terms (storage.search_terms) and
finding messages by them.

The terms are matched by MATCH ... AGAINST in BOOLEAN MODE on MySQL/MariaDB (a FULLTEXT
index) and by FTS5's MATCH on SQLite (`message_search_fts`, kept in step by triggers); on
MySQL/MariaDB the caller's newest messages are read first, where a common word is found at once
and the index is slowest (`_recent_hits`). Hits come newest first, by message id, which grows
with time; the id is also the page cursor."""

from typing import NamedTuple

import orjson
from sqlalchemy import Row, and_, case, column, delete, func, select, table, text
from sqlalchemy.dialects.mysql import insert as mysql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.search_terms import conversation_term, message_terms, searchable_text
from storage.tables import SEARCH_FTS, STATUS_RECALLED, conversation_members, message_search, messages


class MessageToIndex(NamedTuple):
    """A committed message whose search terms are to be written: what the search indexer gets
    from the writer, or finds left behind at its start."""

    id: int
    conversation_id: int
    msg_type: int
    content: str


# One JSON document per batch of committed messages: escaping one string costs the driver far
# less than three values per row. A row an edit wrote first is kept: IGNORE.
#
# MySQL/MariaDB: nothing here locks a row of another table. The checks of the foreign keys that
# `message_search` had (revision 0018) took shared locks on the conversation and message rows,
# in this batch's order, which the group commit locks exclusively (the conversation, the peer's
# messages it marks read): InnoDB deadlocks that rolled batches of sends back (bench/FINDINGS.md,
# "Deadlock"). The statement reads no other table; the messages deleted, recalled or edited
# since, _STALE finds afterwards with a plain read, and the terms written for them go again.
_INSERT_TERMS = text(
    """
    INSERT IGNORE INTO message_search (message_id, conversation_id, terms)
    SELECT j.message_id, j.conversation_id, j.terms
    FROM JSON_TABLE(:batch, '$[*]' COLUMNS (
        message_id BIGINT PATH '$[0]', conversation_id BIGINT PATH '$[1]', terms LONGTEXT PATH '$[2]')) AS j
    """
)
# Of the messages whose terms were just written: those deleted, recalled or edited. A plain read,
# without locks: at the engine's READ COMMITTED it sees what was committed before it began, after
# the insert. A recall or edit that reaches these terms later waits for this transaction's row
# locks, then deletes or rewrites them itself. Left behind: the terms of a message whose recall
# (or deletion) deleted its terms, not yet written, before the insert and commits after this
# read; never found, since a search reads `messages` and skips a recalled or missing one (`find`).
_STALE = text(
    f"""
    SELECT j.message_id, m.id IS NULL OR m.status = {STATUS_RECALLED}, m.msg_type, m.content
    FROM JSON_TABLE(:ids, '$[*]' COLUMNS (message_id BIGINT PATH '$')) AS j
    LEFT JOIN messages AS m ON m.id = j.message_id
    WHERE m.id IS NULL OR m.status = {STATUS_RECALLED} OR m.edited_at IS NOT NULL
    """
)
# SQLite: one writer at a time (the database's write lock), so no recall or edit can be under
# way; the join skips a message deleted, recalled or edited since it was handed over.
_SQLITE_INSERT_NEW_TERMS = text(
    f"""
    INSERT OR IGNORE INTO message_search (message_id, conversation_id, terms)
    SELECT json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]')
    FROM json_each(:batch) AS j
    JOIN messages AS m ON m.id = json_extract(j.value, '$[0]') AND m.status <> {STATUS_RECALLED} AND m.edited_at IS NULL
    """
)


class TermsToWrite(NamedTuple):
    """A committed message's row of `message_search`, made by `terms_to_write`."""

    message_id: int
    conversation_id: int
    terms: str


def terms_to_write(committed: list[MessageToIndex]) -> list[TermsToWrite]:
    """The rows of the committed messages that have any terms. Pure CPU: the search indexer
    makes them a few at a time between its other work (handlers.services.search_indexer)."""
    return [
        TermsToWrite(message.id, message.conversation_id, terms)
        for message in committed
        if (terms := message_terms(message.conversation_id, searchable_text(message.msg_type, message.content)))
    ]


async def index_messages(conn: AsyncConnection, rows: list[TermsToWrite]) -> None:
    """Write the terms of committed messages (`terms_to_write`), after their commit (see
    handlers.services.search_indexer). A message deleted or recalled since gets none; one that
    already has terms (an edit came first) keeps them. In the caller's transaction."""
    if not rows:
        return
    batch = orjson.dumps(rows, default=tuple).decode()
    if conn.dialect.name == "sqlite":
        await conn.execute(_SQLITE_INSERT_NEW_TERMS, {"batch": batch})
        return
    await conn.execute(_INSERT_TERMS, {"batch": batch})
    conversation_of = {row.message_id: row.conversation_id for row in rows}
    stale = [
        message_id
        for message_id, gone, msg_type, content in await conn.execute(_STALE, {"ids": orjson.dumps(list(conversation_of)).decode()})
        # An edit that left no terms deleted them: the row is the old terms written here. An
        # edit with terms wrote them first (kept: IGNORE) or rewrites these after this commit.
        if gone or not message_terms(conversation_of[message_id], searchable_text(msg_type, content))
    ]
    if stale:
        await conn.execute(delete(message_search).where(message_search.c.message_id.in_(stale)))


async def unindexed_since(conn: AsyncConnection, after_id: int, limit: int) -> list[MessageToIndex]:
    """Messages with ids above `after_id` that have no terms and are not recalled, oldest first:
    what a process that stopped before its indexer caught up left behind (and messages with no
    terms at all, which cost a look each)."""
    query = (
        select(messages.c.id, messages.c.conversation_id, messages.c.msg_type, messages.c.content)
        .select_from(messages.outerjoin(message_search, message_search.c.message_id == messages.c.id))
        .where(messages.c.id > after_id, message_search.c.message_id.is_(None), messages.c.status != STATUS_RECALLED)
        .order_by(messages.c.id)
        .limit(limit)
    )
    return [MessageToIndex(*row) for row in await conn.execute(query)]


async def newest_indexed(conn: AsyncConnection) -> int:
    """The highest message id with terms, 0 for none."""
    return await conn.scalar(select(func.coalesce(func.max(message_search.c.message_id), 0)))


async def reindex_message(conn: AsyncConnection, message_id: int, conversation_id: int, msg_type: int, content: str) -> None:
    """Replace a message's terms by those of its new content (an edit)."""
    terms = message_terms(conversation_id, searchable_text(msg_type, content))
    if not terms:
        await unindex_message(conn, message_id)
        return
    # One upsert: an update, then an insert when it found no row, let the indexer's insert of the
    # old terms (the message was new) come between them and the edit fail on the duplicate key.
    row = {"message_id": message_id, "conversation_id": conversation_id, "terms": terms}
    if conn.dialect.name == "sqlite":
        upsert = sqlite_insert(message_search).values(row)
        upsert = upsert.on_conflict_do_update(index_elements=[message_search.c.message_id], set_={"terms": upsert.excluded.terms})
    else:
        upsert = mysql_insert(message_search).values(row)
        upsert = upsert.on_duplicate_key_update(terms=upsert.inserted.terms)
    await conn.execute(upsert)


async def unindex_message(conn: AsyncConnection, message_id: int) -> None:
    """A recalled message is found no more."""
    await conn.execute(delete(message_search).where(message_search.c.message_id == message_id))


async def unindex_conversation(conn: AsyncConnection, conversation_id: int) -> None:
    await conn.execute(delete(message_search).where(message_search.c.conversation_id == conversation_id))


# Beyond this many conversations a query would name too many terms: the join filters alone.
SCOPED_CONVERSATIONS_MAX = 200
_MYSQL_MATCH = text("MATCH (message_search.terms) AGAINST (:match IN BOOLEAN MODE)")
_fts = table(SEARCH_FTS, column("rowid"))
_SQLITE_MATCH = text(f"{SEARCH_FTS} MATCH :match")


async def find(
    conn: AsyncConnection, user_id: int, terms: list[str], *, conversation_id: int | None, before: int | None, limit: int
) -> list[Row]:
    """The messages, newest first, that hold every one of `terms`, of the conversations
    `user_id` is a member of now (a member who left has no member row), none recalled:
    at most `limit` of them, below message id `before` when given.

    The full-text query itself asks for one of the caller's conversations (their terms, see
    search_terms): the index then yields the caller's matches only, not those of a common word
    in every conversation, each of which the join would read. For a caller in more conversations
    than SCOPED_CONVERSATIONS_MAX the index is left to the join alone, which stays correct."""
    if conversation_id is not None:
        scope = [conversation_id]
    else:
        scope = list(await conn.scalars(select(conversation_members.c.conversation_id).where(conversation_members.c.user_id == user_id)))
        if not scope:
            return []
    scoped = len(scope) <= SCOPED_CONVERSATIONS_MAX
    in_scope = [conversation_term(c) for c in scope] if scoped else []
    filtered: list[str] = []
    if conn.dialect.name != "sqlite":
        recent, counts = await _recent_hits(conn, user_id, scope, terms, before=before, limit=limit)
        if recent is not None:
            return recent
        terms, filtered = _split_common(terms, counts)
    if conn.dialect.name == "sqlite":
        # Driven by the FTS5 table, which walks its matches by rowid (the message id) downwards
        # itself. Every term is ASCII letters and digits (search_terms): quoted, one token each.
        found, key, matches = _fts, _fts.c.rowid, _SQLITE_MATCH
        match = " AND ".join(f'"{term}"' for term in terms)
        if in_scope:
            match += " AND (" + " OR ".join(f'"{term}"' for term in in_scope) + ")"
    else:
        found, key, matches = message_search, message_search.c.message_id, _MYSQL_MATCH
        match = " ".join(f"+{term}" for term in terms)
        if in_scope:
            match += " +(" + " ".join(in_scope) + ")"
    query = (
        select(messages)
        .select_from(found)
        .join(messages, messages.c.id == key)
        .join(
            conversation_members,
            (conversation_members.c.conversation_id == messages.c.conversation_id) & (conversation_members.c.user_id == user_id),
        )
        .where(matches, messages.c.status != STATUS_RECALLED, *(_holds(term) for term in filtered))
        .order_by(key.desc())
        .limit(limit)
    )
    if conversation_id is not None:
        query = query.where(messages.c.conversation_id == conversation_id)
    if before is not None:
        query = query.where(key < before)
    return list(await conn.execute(query, {"match": match}))


# How many of the caller's newest messages a MySQL/MariaDB search reads before the full-text index.
RECENT_WINDOW = 2000


async def _recent_hits(
    conn: AsyncConnection, user_id: int, scope: list[int], terms: list[str], *, before: int | None, limit: int
) -> tuple[list[Row] | None, list[int]]:
    """The answer from the caller's RECENT_WINDOW newest messages (below `before`), checked
    term by term, when they hold `limit` hits or are all there is, else None; and how many of
    the messages read hold each term.

    InnoDB's full-text search reads a term's whole posting list whatever the rest of the query:
    measured over 1,000,000 messages (bench/FINDINGS.md, "Search"), a word in 10% of them took
    1-3 s, one conversation's worth included. The word that is slow there is the one found at
    once among the newest messages, read here through the (conversation_id, message_id) index."""
    newest = select(message_search.c.message_id).where(message_search.c.conversation_id.in_(scope))
    if before is not None:
        newest = newest.where(message_search.c.message_id < before)
    window = newest.order_by(message_search.c.message_id.desc()).limit(RECENT_WINDOW).subquery()
    holds = [_holds(term) for term in terms]
    # One row: how many the window read, how many hold each term, and the hits among nulls (the
    # driver would read each of 2,000 rows in Python, and a second query sort the window again).
    summary = select(
        func.count(), func.json_arrayagg(case((and_(*holds), window.c.message_id))), *(func.sum(case((hold, 1), else_=0)) for hold in holds)
    ).join(message_search, message_search.c.message_id == window.c.message_id)
    read, found, *counts = (await conn.execute(summary)).one()
    counts = [int(count or 0) for count in counts]
    hits = sorted((message_id for message_id in orjson.loads(found or "[]") if message_id is not None), reverse=True)[:limit]
    if len(hits) < limit and read == RECENT_WINDOW:
        return None, counts
    query = (
        select(messages)
        .join(
            conversation_members,
            (conversation_members.c.conversation_id == messages.c.conversation_id) & (conversation_members.c.user_id == user_id),
        )
        .where(messages.c.id.in_(hits), messages.c.status != STATUS_RECALLED)
        .order_by(messages.c.id.desc())
    )
    rows = list(await conn.execute(query)) if hits else []
    # A hit recalled (or its conversation left) since the window was read: the index decides.
    return (rows if len(rows) == len(hits) else None), counts


# A term in more than this share of the window is common: the index would read its long posting
# list, so it is checked on the index's matches of the other terms instead.
COMMON_SHARE = 0.05


def _split_common(terms: list[str], counts: list[int]) -> tuple[list[str], list[str]]:
    """(terms for the index, terms checked on its matches): the rarest term always goes to the
    index, and so does every term no more common than COMMON_SHARE of the window."""
    by_count = sorted(zip(counts, terms))
    indexed = [by_count[0][1]] + [term for count, term in by_count[1:] if count <= COMMON_SHARE * RECENT_WINDOW]
    return [term for term in terms if term in indexed], [term for term in terms if term not in indexed]


def _holds(term: str):
    """Whether a message's terms hold `term` (ASCII letters and digits: no LIKE wildcard)."""
    return func.concat(" ", message_search.c.terms, " ").like(f"% {term} %")
