"""Writing the search terms of committed messages after their commit, off the send path.

Inside the group commit the FULLTEXT insert cost ~75 us per message of a 64-message batch and
~0.1 ms of a one-message batch's latency (bench/FINDINGS.md, "Search"), on every send, for a
search that comes seconds later if ever. The writer hands each committed message here instead
(a list append); one task writes the terms of everything handed over since its last write in
one statement. A message is searchable shortly after its sender has the reply (PROTOCOL.md §3).

What was handed over but not written when the process stopped (a crash, a database outage at
that moment) is found at the next start: the newest messages without terms are indexed then.
Edits rewrite and recalls delete terms in their own transactions; an edit's row wins over a
late write of the old terms (storage.search.index_messages)."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from storage import search as search_store
from storage.search import MessageToIndex, TermsToWrite

log = logging.getLogger(__name__)

BATCH_MAX = 500
# How long committed messages gather before their terms are written: at ordinary load a message
# or two per batch would cost a transaction each, as much CPU as their send (measured at 1,000
# msg/s open loop); a search a fraction of a second later finds them all the same.
GATHER_SECONDS = 0.2
# Terms are made this many messages at a time, the loop's other work let in between: a whole
# batch made at once held the loop for 3.7 ms (500 English messages of 100 characters) to 13 ms
# (500 Chinese ones of 47), every send and push behind it waiting.
TERMS_CHUNK = 32
RETRY_SECONDS = 1.0
# At start, messages up to this many ids below the newest with terms are looked at again: a
# batch of another process that committed later than a higher id was indexed, or this
# process's last batches before it stopped.
CATCH_UP_IDS = 20_000


class SearchIndexer:
    def __init__(self, db: AsyncEngine) -> None:
        self._db = db
        self._pending: list[MessageToIndex] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._write_now = asyncio.Event()
        self._failures = 0

    def add(self, message: MessageToIndex) -> None:
        """A message was committed: its terms are written soon."""
        self._pending.append(message)
        self._idle.clear()
        self._wakeup.set()

    async def start(self) -> None:
        self._idle.clear()  # until the catch-up below has looked
        self._task = asyncio.create_task(self._index_forever(), name="search-indexer")

    async def settled(self) -> None:
        """Until everything handed over so far is written, without the gathering wait (for
        tests and shutdown)."""
        self._write_now.set()
        await self._idle.wait()

    async def close(self, timeout: float) -> None:
        """Write what is pending, for at most `timeout` seconds, then stop."""
        if self._task is None:
            return
        try:
            async with asyncio.timeout(timeout):
                await self.settled()
        except TimeoutError:
            log.warning("search terms of %s messages not written at shutdown; the next start writes them", len(self._pending))
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _index_forever(self) -> None:
        await self._catch_up()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if len(self._pending) < BATCH_MAX and not self._write_now.is_set():
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that arrives as the event is set, and close() would wait forever.
                try:
                    async with asyncio.timeout(GATHER_SECONDS):
                        await self._write_now.wait()
                except TimeoutError:
                    pass
            self._write_now.clear()
            while self._pending:
                batch, self._pending = self._pending[:BATCH_MAX], self._pending[BATCH_MAX:]
                if not await self._write(batch):
                    self._pending[:0] = batch
                    await asyncio.sleep(RETRY_SECONDS)
            self._idle.set()

    async def _write(self, batch: list[MessageToIndex]) -> bool:
        rows: list[TermsToWrite] = []
        for start in range(0, len(batch), TERMS_CHUNK):
            rows += search_store.terms_to_write(batch[start : start + TERMS_CHUNK])
            await asyncio.sleep(0)
        try:
            async with self._db.begin() as conn:
                await search_store.index_messages(conn, rows)
        except Exception:  # noqa: BLE001 - kept and tried again: the database may be back soon
            self._failures += 1
            # A connection lost under one write (killed, a failover) is no outage: said loudly
            # only when the retry fails too.
            level = logging.INFO if self._failures == 1 else logging.WARNING
            log.log(level, "writing the search terms of %s messages failed (%s in a row); trying again", len(batch), self._failures, exc_info=True)
            return False
        self._failures = 0
        return True

    async def _catch_up(self) -> None:
        left_behind: list[MessageToIndex] = []
        try:
            async with self._db.connect() as conn:
                after = max(0, await search_store.newest_indexed(conn) - CATCH_UP_IDS)
                while found := await search_store.unindexed_since(conn, after, BATCH_MAX):
                    left_behind += found
                    after = found[-1].id
        except Exception:  # noqa: BLE001 - search of older messages waits for the next start
            log.warning("looking for messages without search terms failed", exc_info=True)
        self._pending[:0] = left_behind
        if self._pending:
            self._wakeup.set()
        else:
            self._idle.set()
