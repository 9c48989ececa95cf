"""The plugin's own tables and their queries, kept apart from its handlers as the server does.
The tables themselves are made and changed by the plugin's migrations
(hubbub_polls_plugin/migrations), which `hubbub migrate` runs; this is their shape for the
queries."""

from sqlalchemy import BigInteger, Column, ColumnElement, DateTime, Index, MetaData, PrimaryKeyConstraint, SmallInteger, String, Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from handlers.api import Connection

metadata = MetaData()

polls = Table(
    "plugin_polls",
    metadata,
    Column("message_id", BigInteger, nullable=False, autoincrement=False),
    Column("conversation_id", BigInteger, nullable=False),
    Column("created_by", BigInteger, nullable=False),
    Column("created_at", DateTime, nullable=False, server_default=func.current_timestamp()),
    Column("closed_at", DateTime, nullable=True),
    PrimaryKeyConstraint("message_id"),
    Index("ix_plugin_polls_conversation_id", "conversation_id"),
)

options = Table(
    "plugin_poll_options",
    metadata,
    Column("message_id", BigInteger, nullable=False),
    Column("position", SmallInteger, nullable=False, autoincrement=False),
    Column("text", String(100), nullable=False),
    PrimaryKeyConstraint("message_id", "position"),
)

votes = Table(
    "plugin_poll_votes",
    metadata,
    Column("message_id", BigInteger, nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("position", SmallInteger, nullable=False),
    PrimaryKeyConstraint("message_id", "user_id"),
)


async def create(conn: Connection, message_id: int, conversation_id: int, user_id: int, texts: list[str]) -> bool:
    """False when the message has a poll already: a message carries one poll at most."""
    try:
        async with conn.begin_nested():
            await conn.execute(polls.insert().values(message_id=message_id, conversation_id=conversation_id, created_by=user_id))
    except IntegrityError:
        return False
    await conn.execute(options.insert(), [{"message_id": message_id, "position": position, "text": text} for position, text in enumerate(texts)])
    return True


async def locked(conn: Connection, message_id: int) -> dict | None:
    """The poll's row, locked until the transaction ends (on MySQL/MariaDB; SQLite has one
    writer at a time anyway), with its number of options: a vote and a close of the same poll
    take turns, so that no vote lands after the poll closed."""
    row = (await conn.execute(select(polls).where(polls.c.message_id == message_id).with_for_update())).first()
    if row is None:
        return None
    count = await conn.scalar(select(func.count()).select_from(options).where(options.c.message_id == message_id))
    return {"created_by": row.created_by, "closed": row.closed_at is not None, "options": count}


async def vote(conn: Connection, message_id: int, user_id: int, position: int | None) -> bool:
    """Makes the user's vote `position` (None: no vote); True when that changed it."""
    mine = (votes.c.message_id == message_id, votes.c.user_id == user_id)
    current = await vote_of(conn, message_id, user_id)
    if current == position:
        return False
    if position is None:
        await conn.execute(delete(votes).where(*mine))
    elif current is None:
        await conn.execute(votes.insert().values(message_id=message_id, user_id=user_id, position=position))
    else:
        await conn.execute(update(votes).where(*mine).values(position=position))
    return True


async def vote_of(conn: Connection, message_id: int, user_id: int) -> int | None:
    """The index of the user's option, None when it has not voted."""
    return await conn.scalar(select(votes.c.position).where(votes.c.message_id == message_id, votes.c.user_id == user_id))


async def close(conn: Connection, message_id: int) -> bool:
    """True when the poll was open."""
    result = await conn.execute(update(polls).where(polls.c.message_id == message_id, polls.c.closed_at.is_(None)).values(closed_at=func.current_timestamp()))
    return result.rowcount > 0


async def poll(conn: Connection, message_id: int, viewer: int | None = None) -> dict | None:
    """The poll as clients see it (`PollVO`; with `my_vote` when a viewer is given), or None."""
    found = await _polls(conn, polls.c.message_id == message_id, viewer)
    return found[0] if found else None


async def of_conversation(conn: Connection, conversation_id: int, viewer: int) -> list[dict]:
    """The conversation's polls, oldest message first, with the viewer's votes."""
    return await _polls(conn, polls.c.conversation_id == conversation_id, viewer)


async def _polls(conn: Connection, where: ColumnElement[bool], viewer: int | None) -> list[dict]:
    rows = (await conn.execute(select(polls).where(where).order_by(polls.c.message_id))).all()
    ids = [row.message_id for row in rows]
    if not ids:
        return []
    texts: dict[int, list[str]] = {message_id: [] for message_id in ids}
    for row in await conn.execute(select(options.c.message_id, options.c.text).where(options.c.message_id.in_(ids)).order_by(options.c.message_id, options.c.position)):
        texts[row.message_id].append(row.text)
    counts = select(votes.c.message_id, votes.c.position, func.count().label("votes")).where(votes.c.message_id.in_(ids)).group_by(votes.c.message_id, votes.c.position)
    tally = {(row.message_id, row.position): row.votes for row in await conn.execute(counts)}
    mine = {}
    if viewer is not None:
        query = select(votes.c.message_id, votes.c.position).where(votes.c.message_id.in_(ids), votes.c.user_id == viewer)
        mine = {row.message_id: row.position for row in await conn.execute(query)}
    found = []
    for row in rows:
        choices = [{"text": text, "votes": tally.get((row.message_id, position), 0)} for position, text in enumerate(texts[row.message_id])]
        vo = {
            "message_id": row.message_id,
            "conversation_id": row.conversation_id,
            "created_by": row.created_by,
            "closed": row.closed_at is not None,
            "options": choices,
            "voters": sum(choice["votes"] for choice in choices),
        }
        if viewer is not None:
            vo["my_vote"] = mine.get(row.message_id)
        found.append(vo)
    return found


async def forget_message(conn: Connection, message_id: int) -> int:
    """Deletes the message's poll, options and votes; the number of polls deleted (0 or 1)."""
    await conn.execute(delete(votes).where(votes.c.message_id == message_id))
    await conn.execute(delete(options).where(options.c.message_id == message_id))
    result = await conn.execute(delete(polls).where(polls.c.message_id == message_id))
    return result.rowcount


async def forget_conversation(conn: Connection, conversation_id: int) -> int:
    """Deletes every poll of the conversation with its options and votes; how many polls."""
    ids = select(polls.c.message_id).where(polls.c.conversation_id == conversation_id).scalar_subquery()
    await conn.execute(delete(votes).where(votes.c.message_id.in_(ids)))
    await conn.execute(delete(options).where(options.c.message_id.in_(ids)))
    result = await conn.execute(delete(polls).where(polls.c.conversation_id == conversation_id))
    return result.rowcount
