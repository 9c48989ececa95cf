"""The one place messages are committed and announced: group commit.

Every send in the process is queued here. While a transaction commits, new sends queue up; the
next transaction takes all of them (up to MAX_BATCH), so under load one COMMIT and a fixed
number of statements carry many messages, and at low load a message waits at most for the one
transaction running. Up to IN_FLIGHT transactions run at once, so one batch's Python work
overlaps the other's database round trips; a second starts only behind a backlog or a slow
first (`_second_worth_starting`), as at light load it would carry one message at a time.
Which of them commits a conversation's next seqs first is up to the database's row lock; the
pusher delivers each conversation's messages in seq order whatever the order of the commits
(`Pusher.in_seq_order`), and a sender hears its reply once its message has been pushed: commit
before push and reply, seqs gapless (storage)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from dataclasses import dataclass
from functools import partial

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.errors import Forbidden, NotFound
from handlers.events import MESSAGE_NEW, MESSAGE_READ
from handlers.metrics import COMMIT_BATCH_SIZE, COMMIT_SECONDS, MESSAGES_COMMITTED, SEND_TO_PUSH_SECONDS
from handlers.objects import direct_peer_id, message_vo, quote_vo
from handlers.push import OrderedPush, Pusher, Socket
from handlers.services.conversations import NO_SUCH_CONVERSATION, require_member, require_not_blocked
from handlers.services.files import file_reference, shareable_file
from handlers.services.search_indexer import SearchIndexer
from storage import conversations as conversation_store
from storage import mentions as mention_store
from storage import message_batch
from storage import messages as message_store
from storage import server_threads
from storage.engine import PING_AFTER_IDLE_SECONDS, abandoned_thread, still_usable
from storage.messages import NewMessage
from storage.search import MessageToIndex
from storage.tables import CONVERSATION_DIRECT, CONVERSATION_GROUP, MSG_TEXT
from storage.transactions import CONFLICT_RETRIES, conflicted

log = logging.getLogger(__name__)

MAX_BATCH = 256
IN_FLIGHT = 2
# A second transaction starts while one runs once this many sends wait, or once the running one
# has taken this long (stalled on a lock, or a big batch).
OVERLAP_BACKLOG = 8
OVERLAP_AFTER_SECONDS = 0.005
# How often the writer asks a database that does not answer again, to settle a lost batch.
SETTLE_RETRY_SECONDS = 1.0


@dataclass(slots=True)
class QueuedSend:
    new: NewMessage
    origin: Socket | None
    done: asyncio.Future  # → (MessageVO, created)

    def fail(self, exc: BaseException) -> None:
        if not self.done.done():
            self.done.set_exception(exc)

    def succeed(self, vo: dict, created: bool) -> None:
        if not self.done.done():
            self.done.set_result((vo, created))


class DuplicateClientId(Exception):
    """This send's client_msg_id was committed by a racing resend; the caller answers with it."""


@dataclass(slots=True)
class Committed:
    send: QueuedSend
    row: dict
    audience: list[int]
    read_peer_messages: bool


class MessageWriter:
    def __init__(self, db: AsyncEngine, pusher: Pusher, search_indexer: SearchIndexer | None = None) -> None:
        self._db = db
        self._pusher = pusher
        self._search_indexer = search_indexer
        self._queue: deque[QueuedSend] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._units: set[asyncio.Task] = set()
        self._started_at: dict[int, float] = {}  # running transactions (by unit number): loop time begun
        self._unit_numbers = itertools.count()
        self._progress = asyncio.Event()  # a transaction ended, or a backlog formed
        # Connections kept between batches, with when each was last used (see _batch_connection).
        self._kept: list[tuple[AsyncConnection, float]] = []
        # Lost transactions to settle (see _settle_if_lost): server threads, conversations.
        self._lost_threads: set[int] = set()
        self._lost_conversations: set[int] = set()
        self._settler: asyncio.Task | None = None

    async def write(self, new: NewMessage, origin: Socket | None) -> tuple[dict, bool]:
        """Queue a message and wait until it is committed and pushed: (MessageVO, True)."""
        loop = asyncio.get_running_loop()
        queued_at = loop.time()
        done = loop.create_future()
        self._queue.append(QueuedSend(new, origin, done))
        self._wakeup.set()
        if len(self._queue) >= OVERLAP_BACKLOG:
            self._progress.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_forever(), name="message-writer")
        result = await done
        SEND_TO_PUSH_SECONDS.observe(loop.time() - queued_at)
        return result

    async def close(self) -> None:
        """Finish what is queued and in flight, then stop (before the database closes)."""
        while (self._queue or self._units) and self._task is not None and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._settler is not None:
            self._settler.cancel()
            await asyncio.gather(self._settler, return_exceptions=True)
        kept, self._kept = self._kept, []
        for conn, _ in kept:
            await conn.close()

    async def _write_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                # Waiting here, not in the unit, lets the queue grow meanwhile: the next batch
                # takes everything that arrived while the running ones were busy.
                await self._second_worth_starting()
                await self._slots.acquire()
                taken = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                for index, unit in enumerate(_units_of(taken)):
                    if index:
                        await self._slots.acquire()
                    number = next(self._unit_numbers)
                    self._started_at[number] = asyncio.get_running_loop().time()
                    task = asyncio.create_task(self._write_unit(unit, number))
                    self._units.add(task)
                    task.add_done_callback(self._units.discard)

    async def _second_worth_starting(self) -> None:
        """While a transaction runs, wait to start another until OVERLAP_BACKLOG sends are
        queued or the running one has taken OVERLAP_AFTER_SECONDS. At light load a CALL lasts
        about as long as the gap between two sends: started at once, each would carry a single
        message and pay its round trips and its search-index write alone, while waiting lets
        the sends share the next (bench/FINDINGS.md, fifth part: 25-40% less server CPU per
        message at 1,000-2,000 msg/s, an equal or better tail). A stalled transaction still
        lets the next go after a few milliseconds, so seq-ordered delivery across overlapping
        transactions stays exercised."""
        loop = asyncio.get_running_loop()
        while self._started_at and len(self._queue) < OVERLAP_BACKLOG:
            wait = min(self._started_at.values()) + OVERLAP_AFTER_SECONDS - loop.time()
            if wait <= 0:
                return
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), wait)
            except TimeoutError:
                return

    async def _write_unit(self, unit: list[QueuedSend], number: int) -> None:
        """Commit (holding the slot the loop took for it), then hand the pushes over."""
        started = time.perf_counter()
        try:
            committed = await (self._write_batch(unit) if _batchable(unit[0]) else self._write_one(unit[0]))
        except Exception as exc:  # noqa: BLE001 - the writer must outlive any one batch
            log.exception("message batch failed")
            committed = []
            for send in unit:
                send.fail(exc)
        finally:
            self._slots.release()
            del self._started_at[number]
            self._progress.set()
        if committed:
            COMMIT_SECONDS.observe(time.perf_counter() - started)
            COMMIT_BATCH_SIZE.observe(len(committed))
            MESSAGES_COMMITTED.inc(len(committed))
        for done in committed:
            self._announce(done)

    async def _write_batch(self, sends: list[QueuedSend], conflicts: int = 0) -> list[Committed]:
        """Commit a run of text messages; the senders refused on the way are answered here.
        `conflicts`: how many times this batch was rolled back for a deadlock already."""
        try:
            conn = await self._batch_connection()
            try:
                batch = await message_batch.append_batch(conn, [send.new for send in sends])
            except BaseException:
                await conn.close()
                raise
            self._kept.append((conn, time.monotonic()))
        except message_batch.Refused as refused:
            # Someone left, was removed or was blocked meanwhile: refuse their messages, write the
            # others. A block is the plain 403 of anything not allowed, which does not tell of it.
            rest = []
            for send in sends:
                pair = (send.new.conversation_id, send.new.sender_id)
                if pair in refused.strangers:
                    send.fail(NotFound(NO_SUCH_CONVERSATION))
                elif pair in refused.blocked:
                    send.fail(Forbidden())
                else:
                    rest.append(send)
            return await self._write_batch(rest, conflicts) if rest else []
        except IntegrityError:
            # A client_msg_id already stored (a racing resend): each alone sorts out which.
            return [done for send in sends for done in await self._write_one(send)]
        except Exception as exc:  # noqa: BLE001 - every sender hears of it (503 for an outage)
            if conflicted(exc) and conflicts < CONFLICT_RETRIES:
                # The procedure rolled the whole batch back (its handler): nothing is stored.
                log.info("a batch of %s messages was rolled back (%s); writing it again", len(sends), exc.orig)
                return await self._write_batch(sends, conflicts + 1)
            for send in sends:
                send.fail(exc)
            self._settle_if_lost(exc, sends)
            return []
        committed = []
        for send, done in zip(sends, batch.appended):
            conversation = done.conversation
            direct = conversation.type == CONVERSATION_DIRECT
            audience = [conversation.direct_low_id, conversation.direct_high_id] if direct else batch.members[done.row["conversation_id"]]
            committed.append(Committed(send, done.row, audience, done.read_peer_messages))
        return committed

    async def _batch_connection(self) -> AsyncConnection:
        """A connection for the next batch: one kept from an earlier batch while it was used
        recently, else a fresh one from the pool. Checking a connection out of SQLAlchemy's
        pool and back in costs ~30 us of CPU per batch, which at ordinary load is per message.
        One idle for longer goes back to the pool, whose checkout tests it as for any caller
        (storage.engine: a connection the server may have closed is never handed out). A batch
        that raised closes its connection instead of keeping it."""
        while self._kept:
            conn, used_at = self._kept.pop()
            if time.monotonic() - used_at < PING_AFTER_IDLE_SECONDS and still_usable(conn):
                return conn
            await conn.close()
        return await self._db.connect().start()

    async def _write_one(self, send: QueuedSend, conflicts: int = 0) -> list[Committed]:
        new = send.new
        try:
            async with self._db.begin() as conn:
                conversation = await require_member(conn, new.conversation_id, new.sender_id, lock=True)
                await require_not_blocked(conn, conversation, new.sender_id)
                content, file_id = new.content, None
                if new.msg_type != MSG_TEXT:
                    shared = await shareable_file(conn, new.sender_id, new.content, new.msg_type)
                    content, file_id = file_reference(shared), shared.id
                row = await message_store.append_message(
                    conn,
                    NewMessage(
                        new.conversation_id,
                        new.sender_id,
                        direct_peer_id(conversation, new.sender_id),
                        content,
                        new.msg_type,
                        new.client_msg_id,
                        file_id,
                        new.reply_to_id,
                        new.forwarded_sender_id,
                        new.forwarded_message_id,
                    ),
                )
                if new.reply_to_id is not None:
                    row["reply_to"] = quote_vo(await message_store.get_message(conn, new.reply_to_id))
                # A forward mentions nobody: the names are someone else's words.
                if new.msg_type == MSG_TEXT and "@" in content and new.forwarded_sender_id is None:
                    row["mentions"] = await _store_mentions(conn, conversation, new.sender_id, row)
                reads = await _reply_reads(conn, conversation.type, conversation.id, new.sender_id, conversation.last_read_seq, row["seq"])
                if conversation.type == CONVERSATION_DIRECT:
                    audience = [conversation.direct_low_id, conversation.direct_high_id]
                else:
                    audience = await conversation_store.member_ids(conn, conversation.id)
        except IntegrityError as exc:
            send.fail(DuplicateClientId() if new.client_msg_id is not None else exc)
            return []
        except Exception as exc:  # noqa: BLE001 - the sender hears of it
            if conflicted(exc) and conflicts < CONFLICT_RETRIES:
                # Rolled back (the database, then `begin()`'s exit): nothing is stored.
                log.info("a message was rolled back (%s); writing it again", exc.orig)
                return await self._write_one(send, conflicts + 1)
            send.fail(exc)
            self._settle_if_lost(exc, [send])
            return []
        return [Committed(send, row, audience, reads)]

    def _settle_if_lost(self, exc: Exception, sends: list[QueuedSend]) -> None:
        """A connection lost with the transaction in flight (its COMMIT among what may have got
        no answer): the database may have committed the messages all the same, and then no one
        announces them. Their senders were told 503, "perhaps stored" (PROTOCOL §1); the
        members must get the pushes of whatever was stored."""
        if not (isinstance(exc, DBAPIError) and exc.connection_invalidated):
            return
        thread_id = abandoned_thread(exc)
        if thread_id is not None:
            self._lost_threads.add(thread_id)
        self._lost_conversations.update(send.new.conversation_id for send in sends)
        if self._settler is None or self._settler.done():
            self._settler = asyncio.create_task(self._settle(), name="settle-lost-batches")

    async def _settle(self) -> None:
        """Once the database answers: end the server threads that may still be running lost
        transactions and outlast their transactions (their outcome is then final), then have
        what they committed delivered. One task for all of them, so that a database that does
        not answer is asked once a second, not once per lost batch (the pool is for the
        requests)."""
        while self._lost_threads or self._lost_conversations:
            threads, self._lost_threads = self._lost_threads, set()
            conversations, self._lost_conversations = self._lost_conversations, set()
            try:
                if threads:
                    async with self._db.connect() as conn:
                        for thread_id in threads:
                            await server_threads.end_thread(conn, thread_id)
                async with self._db.begin() as conn:
                    await server_threads.outlast_writers(conn, conversations)
            except Exception:  # noqa: BLE001 - the database may answer on the next try
                log.warning("could not settle %s lost batches; retrying", len(threads) or len(conversations), exc_info=True)
                self._lost_threads |= threads
                self._lost_conversations |= conversations
                await asyncio.sleep(SETTLE_RETRY_SECONDS)
                continue
            self._pusher.recheck(conversations)

    def _announce(self, done: Committed) -> None:
        row = done.row
        if self._search_indexer is not None:
            self._search_indexer.add(MessageToIndex(row["id"], row["conversation_id"], row["msg_type"], row["content"]))
        vo = message_vo(row)
        events: tuple[tuple[str, dict], ...] = ((MESSAGE_NEW, vo),)
        if done.read_peer_messages:
            read = {"conversation_id": row["conversation_id"], "user_id": row["sender_id"], "last_read_seq": row["seq"]}
            events += ((MESSAGE_READ, read),)
        send = done.send
        self._pusher.in_seq_order(
            OrderedPush(row["conversation_id"], row["seq"], done.audience, events, send.origin, partial(send.succeed, vo, True))
        )


async def _reply_reads(conn, conversation_type: int, conversation_id: int, sender_id: int, previous_read_seq: int, seq: int) -> bool:
    """Sending moves the sender's read marker to its message; in a direct conversation the
    peer's unread messages up to it become read (seed 000). True when some did. Nothing to
    do when the marker was already right below the new message."""
    if conversation_type != CONVERSATION_DIRECT or previous_read_seq >= seq - 1:
        return False
    return await message_store.mark_direct_read(conn, conversation_id, sender_id, seq) > 0


async def _store_mentions(conn, conversation, sender_id: int, row: dict) -> list[int]:
    """Resolve the message's @names to current members and store them with the message: the
    mentioned user ids. @all is for groups, by everyone or by the owner only (`mentions_all`)."""
    names = mention_store.names_in(row["content"])
    if not names:
        return []
    everyone = (
        mention_store.ALL in names
        and conversation.type == CONVERSATION_GROUP
        and (bool(conversation.mentions_all) or conversation.owner_id == sender_id)
    )
    user_ids = await mention_store.resolve(conn, conversation.id, sender_id, names, everyone=everyone)
    await mention_store.add(conn, row["id"], conversation.id, row["seq"], user_ids)
    return user_ids


def _batchable(send: QueuedSend) -> bool:
    """A text message that quotes nothing, forwards nothing and has no '@' in it: a reply is
    written alone, with its quote read in its transaction, and so is a message that may mention
    someone, with its mentions, and a forward, with its origin, so that the group commit's
    statements stay as they are."""
    new = send.new
    return new.msg_type == MSG_TEXT and new.reply_to_id is None and "@" not in new.content and new.forwarded_sender_id is None


def _units_of(sends: list[QueuedSend]) -> list[list[QueuedSend]]:
    """Runs of plain text messages, and each file message, reply or message with an '@' alone
    (its file, quote or mentions are handled in its own transaction), in queue order."""
    units: list[list[QueuedSend]] = []
    for send in sends:
        if _batchable(send) and units and _batchable(units[-1][0]):
            units[-1].append(send)
        else:
            units.append([send])
    return units
