"""Delivery of each conversation's messages in seq order, whoever committed them.

Seqs of one conversation are committed in seq order (the conversation row lock is held until
commit), but the news of those commits reaches a process in any order: two transactions of this
process finish in either order, and other processes' publishes cross the bus on their own
paths. So every process keeps, per conversation, the next seq it owes its sockets and holds
back what arrives early:

- `next_seq` arrives: it is delivered, then everything held back that follows it.
- A higher seq arrives: it waits. Its predecessors are committed already (they were committed
  first), so a gap that outlives `gap_seconds` is repaired from the database: the missing range
  is read and delivered, and the held-back seqs follow.
- A lower seq arrives (a repair delivered it first): only its sender's reply is still owed.

A conversation seen for the first time starts at seq 1, or, past that, at the first seq
committed after the `horizon`: before it this process had no sockets (start) or has forgotten
the conversation (idle for `idle_seconds`), so nothing older can be owed. That first look-up
holds the conversation's deliveries for one database read, once.

`watch_tail` closes the last hole: a lost last message of a burst leaves no later seq to show
the gap, so the conversations that recently had traffic are compared with their committed
`last_seq` every `tail_seconds` (the cluster bus turns this on; in one process nothing is lost)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from handlers.push import OrderedPush
from storage.clock import utc_now

log = logging.getLogger(__name__)

# Seconds a skipped seq may stay missing before the database is read for it. Two transactions
# of one process finish within milliseconds of each other; a bus adds well under one.
GAP_SECONDS = 0.25
# A conversation with no traffic for this long is forgotten (and the horizon moves past it).
# Far longer than CLOCK_SKEW, which the horizon leaves on either side.
IDLE_SECONDS = 600.0
# Clocks of other machines may run behind ours by this much: the horizon is moved back by it,
# so at worst a message committed just before it is pushed once more, never skipped.
CLOCK_SKEW = timedelta(seconds=2)

# How often a recheck asks a database that does not answer again.
RECHECK_RETRY_SECONDS = 1.0

_UNKNOWN = 0  # `next_seq` while the first look-up runs


class Backfill(Protocol):
    """The database's side: what was committed, for repairs and first looks."""

    async def first_owed(self, conversation_id: int, below_seq: int, horizon: datetime) -> int:
        """The lowest seq below `below_seq` committed after `horizon`, else `below_seq`."""

    async def committed(self, conversation_id: int, from_seq: int, to_seq: int) -> list[OrderedPush]:
        """The `message.new` pushes of seqs `from_seq`..`to_seq` (inclusive) as committed."""

    async def last_seqs(self, conversation_ids: list[int]) -> dict[int, int]:
        """Each conversation's last committed seq."""

    async def changed_since(self, moment: datetime) -> dict[int, int]:
        """The last seq of every conversation with a message committed after `moment`."""


@dataclass(slots=True)
class _Stream:
    next_seq: int
    touched: float
    pending: dict[int, OrderedPush] = field(default_factory=dict)
    repair: asyncio.Task | None = None
    # The highest seq another process said it committed, and when: if its news has not come
    # within a gap's time, it is read from the database.
    expected: int = 0
    expected_at: float = 0.0


class Sequencer:
    def __init__(
        self,
        deliver: Callable[[OrderedPush], None],
        backfill: Backfill,
        *,
        gap_seconds: float = GAP_SECONDS,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self._deliver = deliver
        self._backfill = backfill
        self._gap_seconds = gap_seconds
        self._idle_seconds = idle_seconds
        self._streams: dict[int, _Stream] = {}
        self._tasks: set[asyncio.Task] = set()
        self.horizon = utc_now() - CLOCK_SKEW
        self.repairs = 0  # seqs read from the database instead of arriving: for tests and metrics

    def accept(self, push: OrderedPush) -> None:
        """Deliver `push` now if it is the next one owed, else hold it back."""
        stream = self._streams.get(push.conversation_id)
        now = time.monotonic()
        if stream is None:
            stream = self._streams[push.conversation_id] = _Stream(1 if push.seq == 1 else _UNKNOWN, now)
            if push.seq > 1:
                stream.repair = self._spawn(self._first_look(push.conversation_id, stream, push.seq))
        stream.touched = now
        if stream.next_seq != _UNKNOWN and push.seq < stream.next_seq:
            _call(push.on_delivered)
            return
        held = stream.pending.get(push.seq)
        if held is not None and held.on_delivered is not None and push.on_delivered is None:
            return  # the sender's own copy is already waiting
        stream.pending[push.seq] = push
        self._release(push.conversation_id, stream)

    def resync(self, conversation_ids: Iterable[int] | None = None) -> None:
        """Compare conversations (all known ones by default) with the database and repair what
        is missing: after the bus lost messages, or to find a lost tail."""
        ids = list(self._streams) if conversation_ids is None else list(conversation_ids)
        if ids:
            self._spawn(self._catch_up(ids))

    def recheck(self, conversation_ids: Iterable[int]) -> None:
        """Like `resync`, for commits whose news may never come (their writer gave up waiting
        for the answer): tried again until the database answers, and for conversations not
        seen yet too."""
        self._spawn(self._recheck(list(conversation_ids)))

    def expect(self, conversation_id: int, last_seq: int) -> None:
        """Another process says `last_seq` is committed: make sure it and what precedes it are
        delivered here, whether or not their news arrived."""
        stream = self._streams.get(conversation_id)
        if stream is None:
            stream = self._streams[conversation_id] = _Stream(_UNKNOWN, time.monotonic())
            stream.repair = self._spawn(self._first_look(conversation_id, stream, last_seq + 1, catch_up=True))
            return
        if last_seq > stream.expected:
            stream.expected = last_seq
            stream.expected_at = time.monotonic()

    def catch_up_since(self, since_epoch_seconds: float) -> None:
        """The bus lost news from `since_epoch_seconds` on: repair every conversation written since."""
        self._spawn(self._catch_up_changed(datetime.fromtimestamp(since_epoch_seconds, UTC).replace(tzinfo=None) - CLOCK_SKEW))

    async def watch_tail(self, every_seconds: float) -> None:
        """Forever: repair what other processes said they committed and whose news is overdue,
        and resync the conversations that had traffic within the last few periods."""
        while True:
            await asyncio.sleep(every_seconds)
            now = time.monotonic()
            for cid, stream in self._streams.items():
                overdue = stream.next_seq != _UNKNOWN and stream.expected >= stream.next_seq and now - stream.expected_at >= self._gap_seconds
                if overdue and stream.repair is None:
                    stream.repair = self._spawn(self._catch_up_to(cid, stream, stream.expected))
            recent = now - 4 * every_seconds
            self.resync([cid for cid, stream in self._streams.items() if stream.touched >= recent])
            self.forget_idle()

    async def forget_idle_forever(self, every_seconds: float) -> None:
        """Forever: `forget_idle`, so memory follows the conversations in use, not all ever seen."""
        while True:
            await asyncio.sleep(every_seconds)
            self.forget_idle()

    def forget_idle(self) -> None:
        """Drop conversations idle past `idle_seconds` with nothing held back."""
        cutoff = time.monotonic() - self._idle_seconds
        idle = [cid for cid, s in self._streams.items() if s.touched < cutoff and not s.pending and s.repair is None]
        if idle:
            for cid in idle:
                del self._streams[cid]
            # The forgotten were last touched before `cutoff`, so what was delivered for them was
            # committed before it (by a clock up to CLOCK_SKEW ahead of ours), and what they will
            # be owed is committed from now on: a first look from here on starts in between.
            self.horizon = max(self.horizon, utc_now() - timedelta(seconds=self._idle_seconds) + CLOCK_SKEW)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks))

    # --- internals --------------------------------------------------------------------------

    def _release(self, conversation_id: int, stream: _Stream) -> None:
        if stream.next_seq == _UNKNOWN:
            return
        pending = stream.pending
        while stream.next_seq in pending:
            push = pending.pop(stream.next_seq)
            stream.next_seq += 1
            try:
                self._deliver(push)
            except Exception:  # noqa: BLE001 - one bad push must not stall the conversation
                log.exception("delivering seq %s of conversation %s failed", push.seq, conversation_id)
        if pending and stream.repair is None:
            stream.repair = self._spawn(self._repair_gap(conversation_id, stream))

    async def _first_look(self, conversation_id: int, stream: _Stream, seq: int, *, catch_up: bool = False) -> None:
        try:
            first = await self._backfill.first_owed(conversation_id, seq, self.horizon)
        except Exception:  # noqa: BLE001 - without the database, deliver what is here
            log.warning("conversation %s: could not read where its pushes start; starting at seq %s", conversation_id, seq, exc_info=True)
            first = seq
        finally:
            stream.repair = None
        stream.next_seq = min(first, *stream.pending) if stream.pending else first
        self._release(conversation_id, stream)
        if catch_up:
            self.resync([conversation_id])

    async def _repair_gap(self, conversation_id: int, stream: _Stream) -> None:
        try:
            await asyncio.sleep(self._gap_seconds)
            while stream.pending and stream.next_seq not in stream.pending:
                upto = min(stream.pending) - 1
                try:
                    found = await self._backfill.committed(conversation_id, stream.next_seq, upto)
                except Exception:  # noqa: BLE001 - the database may be back on the next try
                    log.warning("conversation %s: repairing seqs %s..%s failed; retrying", conversation_id, stream.next_seq, upto, exc_info=True)
                    await asyncio.sleep(self._gap_seconds)
                    continue
                self._fill(conversation_id, stream, found, upto)
        finally:
            stream.repair = None
        self._release(conversation_id, stream)

    async def _catch_up(self, conversation_ids: list[int]) -> None:
        try:
            last = await self._backfill.last_seqs(conversation_ids)
        except Exception:  # noqa: BLE001 - the next resync tries again
            log.warning("could not read the last seqs of %s conversations", len(conversation_ids), exc_info=True)
            return
        for cid, last_seq in last.items():
            stream = self._streams.get(cid)
            if stream is None or stream.next_seq == _UNKNOWN or stream.repair is not None or last_seq < stream.next_seq:
                continue
            stream.repair = asyncio.current_task()
            await self._catch_up_to(cid, stream, last_seq)

    async def _recheck(self, conversation_ids: list[int]) -> None:
        while True:
            try:
                last = await self._backfill.last_seqs(conversation_ids)
                break
            except Exception:  # noqa: BLE001 - the database may answer on the next try
                log.warning("could not read the last seqs of %s conversations; retrying", len(conversation_ids), exc_info=True)
                await asyncio.sleep(RECHECK_RETRY_SECONDS)
        for cid, last_seq in last.items():
            stream = self._streams.get(cid)
            if stream is None:
                self.expect(cid, last_seq)  # a first look, then a catch-up to the newest
                continue
            while stream.repair is not None:  # a repair or first look in flight: then compare
                await asyncio.wait({stream.repair})
            if stream.next_seq != _UNKNOWN and last_seq >= stream.next_seq:
                stream.repair = asyncio.current_task()
                await self._catch_up_to(cid, stream, last_seq)

    async def _catch_up_to(self, conversation_id: int, stream: _Stream, last_seq: int) -> None:
        """Deliver what is missing up to `last_seq`, read from the database; `stream.repair`
        is this task's while it runs."""
        try:
            if stream.next_seq <= last_seq:
                found = await self._backfill.committed(conversation_id, stream.next_seq, last_seq)
                self._fill(conversation_id, stream, found, last_seq)
        except Exception:  # noqa: BLE001 - the next check tries again
            log.warning("conversation %s: catching up failed", conversation_id, exc_info=True)
        finally:
            stream.repair = None
        self._release(conversation_id, stream)

    async def _catch_up_changed(self, since: datetime) -> None:
        try:
            changed = await self._backfill.changed_since(since)
        except Exception:  # noqa: BLE001 - the tail watch still finds what is recent
            log.warning("could not read the conversations changed since %s", since, exc_info=True)
            return
        for conversation_id, last_seq in changed.items():
            self.expect(conversation_id, last_seq)
        self.resync()

    def _fill(self, conversation_id: int, stream: _Stream, found: list[OrderedPush], upto: int) -> None:
        for push in found:
            if push.seq >= stream.next_seq and push.seq not in stream.pending:
                stream.pending[push.seq] = push
                self.repairs += 1
        if stream.next_seq not in stream.pending and stream.pending and stream.next_seq <= upto:
            # Not in the database although a later seq is: deleted with its conversation.
            log.warning("conversation %s: seqs %s..%s are gone; skipping them", conversation_id, stream.next_seq, upto)
            stream.next_seq = min(stream.pending)

    def _spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _call(callback: Callable[[], None] | None) -> None:
    if callback is not None:
        callback()

