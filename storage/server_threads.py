"""Ending, for good, what the database may still be doing for a connection given up on.

A command that got no answer in time (storage.engine: database_timeout_seconds) may still run
on the server, and a COMMIT among them may still take effect, after we have closed our end: a
server does not notice a closed client while it waits for a lock or is stopped. Killing the
connection's thread is not enough: MariaDB drops a killed thread from its process list at once,
while its transaction, waiting for a row lock, carries on once it gets the lock, and commits
(seen in tests/faults/test_frozen_database.py). Taking the row locks that transaction was after
outlasts it: what it committed can then be read back once."""

import asyncio

from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import conversations

_NO_SUCH_THREAD = 1094
_POLL_SECONDS = 0.05
_STILL_THERE = text("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = :id")


async def end_thread(conn: AsyncConnection, thread_id: int) -> None:
    """Kill server thread `thread_id` (one of this user's connections) and return once it has
    ended: its transaction is then committed or rolled back for good. MySQL/MariaDB only."""
    try:
        await conn.exec_driver_sql(f"KILL CONNECTION {int(thread_id)}")
    except DBAPIError as exc:
        if getattr(exc.orig, "args", (None,))[0] != _NO_SUCH_THREAD:
            raise
    while await conn.scalar(_STILL_THERE, {"id": thread_id}):
        await asyncio.sleep(_POLL_SECONDS)


async def outlast_writers(conn: AsyncConnection, conversation_ids: set[int]) -> None:
    """Return once no transaction that appends to these conversations is left running: every
    append locks its conversation's row first, and a lock request queues behind those holding
    or awaiting the lock (granted in order, as MariaDB does; MySQL 8 may reorder waiters by
    their weight). The locks are the caller's transaction's, until it ends."""
    if conversation_ids:
        await conn.execute(select(conversations.c.id).where(conversations.c.id.in_(sorted(conversation_ids))).with_for_update())
