"""A connection kept between the reads of one task, in autocommit.

Checking a connection out of the pool and back in costs ~200 us of CPU and, once a statement
has opened a transaction, a ROLLBACK round trip (bench/FINDINGS.md). The session lookups of
every REST request and socket handshake and the presence audiences of every socket that opens
or closes are each made by one task, one statement at a time: they keep their connection.
In autocommit every statement reads what was committed before it, as on a fresh checkout, and
nothing (a snapshot, a metadata lock that would hold up a migration) is held between reads."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.engine import PING_AFTER_IDLE_SECONDS, NoAnswer, still_usable

T = TypeVar("T")


class KeptConnection:
    def __init__(self, db: AsyncEngine) -> None:
        self._db = db
        self._kept: AsyncConnection | None = None
        self._used_at = 0.0
        self._closed = False

    async def read(self, statement: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`statement(conn)` on the kept connection when it was used recently and is still
        open, else on a new one from the pool (whose checkout tests it as for any caller). For
        reads only: nothing is committed or rolled back. A kept connection found lost when used
        (killed, the server restarted, its goodbye not yet seen) is replaced and the read made
        once more, as the pool's checkout does; one that raised is closed, not kept. SQLite: a
        connection per read, as without this (every transaction there takes the database's
        write lock, see storage.engine, so a kept one would hold up every writer)."""
        if self._db.dialect.name == "sqlite":
            async with self._db.connect() as conn:
                return await statement(conn)
        conn, kept = await self._take()
        try:
            result = await statement(conn)
        except DBAPIError as exc:
            await conn.close()
            # A server that does not answer (NoAnswer) would only keep a new connection waiting
            # as long again: the caller hears of it at once (503), as from the pool's checkout.
            if not (kept and exc.connection_invalidated) or isinstance(exc.orig, NoAnswer):
                raise
            conn, _ = await self._take()
            try:
                result = await statement(conn)
            except BaseException:
                await conn.close()
                raise
        except BaseException:
            await conn.close()
            raise
        if self._kept is None and not self._closed:
            self._kept, self._used_at = conn, time.monotonic()
        else:  # a second reader meanwhile (one connection is kept), or closed meanwhile
            await conn.close()
        return result

    async def close(self) -> None:
        """Give the kept connection back; one in use now goes back when its user is done."""
        self._closed = True
        conn, self._kept = self._kept, None
        if conn is not None:
            await _give_back(conn)

    async def _take(self) -> tuple[AsyncConnection, bool]:
        """A connection, and whether it is the kept one."""
        conn, self._kept = self._kept, None
        if conn is not None:
            if still_usable(conn) and time.monotonic() - self._used_at < PING_AFTER_IDLE_SECONDS:
                return conn, True
            await _give_back(conn)
        conn = await self._db.connect()
        try:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            await conn.close()
            raise
        return conn, False


async def _give_back(conn: AsyncConnection) -> None:
    """Back to the pool, or dropped when the server is gone from it: closing rolls back first
    (SQLAlchemy's transaction, a no-op in autocommit), which a lost connection cannot."""
    if not still_usable(conn):
        await conn.invalidate()
    try:
        await conn.close()
    except DBAPIError as exc:
        if not exc.connection_invalidated:  # lost without a word before: dropped, as it should be
            raise
