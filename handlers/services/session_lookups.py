"""Looking up the sessions of many tokens in one query.

Every REST request and socket handshake checks its token's session. In a reconnect storm after
a deploy thousands of sockets arrive a second, and a round trip each was a third of a
handshake's cost (bench/FINDINGS.md). Lookups that arrive while one query is in flight, or
within GATHER_SECONDS of the last one, wait for the next, which answers all of them, as the
message writer's group commit does for sends; at ordinary load a lookup waits for nobody."""

from __future__ import annotations

import asyncio
from functools import partial

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import tokens as token_store
from storage.clock import utc_now
from storage.kept_connection import KeptConnection


# In a reconnect storm lookups arrive faster than a query answers them: the queries are spaced
# at least this far apart, so that each answers the lookups of several milliseconds, not the one
# or two that came while the previous one ran (4,000 handshakes: 2,038 queries -> 444, and 0.74
# -> 0.52 ms of server CPU per handshake). A lookup waits only when a query was made less than
# this long ago, and at most this long.
GATHER_SECONDS = 0.005


class SessionLookups:
    def __init__(self, db: AsyncEngine) -> None:
        self._reads = KeptConnection(db)
        self._waiting: dict[int, list[asyncio.Future]] = {}
        self._task: asyncio.Task | None = None
        self._queried_at = float("-inf")

    async def user_of(self, session_id: int) -> Row | None:
        """The session's user with `token_valid` and `session_seen_at` (see
        storage.tokens.users_of_sessions), None when there is no such session."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(session_id, []).append(waiter)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._look_up_waiting(), name="session-lookups")
        return await waiter

    async def close(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self._reads.close()

    async def _look_up_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            gathering = self._queried_at + GATHER_SECONDS - loop.time()
            if gathering > 0:
                await asyncio.sleep(gathering)
            self._queried_at = loop.time()
            batch, self._waiting = self._waiting, {}
            try:
                found = await self._reads.read(partial(token_store.users_of_sessions, session_ids=list(batch), now=utc_now()))
            except Exception as exc:  # noqa: BLE001 - each caller hears of it, as if it had asked alone
                for waiters in batch.values():
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                continue
            for session_id, waiters in batch.items():
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(found.get(session_id))
