"""The one place messages are committed and announced: group commit.

Every send in the process is queued here and written by one task. While a transaction commits,
new sends queue up; the next transaction takes all of them (up to MAX_BATCH), so under load
one COMMIT and a fixed number of statements carry many messages, and at low load a message
waits for nobody. After each commit the writer pushes `message.new` in seq order and only
then answers the senders: commit before reply, pushes in order, seqs gapless (storage)."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.errors import NotFound
from handlers.objects import direct_peer_id, message_vo
from handlers.push import Pusher, Socket
from handlers.services.conversations import NO_SUCH_CONVERSATION, require_member
from handlers.services.files import file_reference, shareable_file
from storage import conversations as conversation_store
from storage import messages as message_store
from storage.messages import NewMessage
from storage.tables import CONVERSATION_DIRECT, MSG_TEXT

log = logging.getLogger(__name__)

MAX_BATCH = 256


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


class MessageWriter:
    def __init__(self, db: AsyncEngine, pusher: Pusher) -> None:
        self._db = db
        self._pusher = pusher
        self._queue: deque[QueuedSend] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def write(self, new: NewMessage, origin: Socket | None) -> tuple[dict, bool]:
        """Queue a message and wait until it is committed and pushed: (MessageVO, True)."""
        done = asyncio.get_running_loop().create_future()
        self._queue.append(QueuedSend(new, origin, done))
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_forever(), name="message-writer")
        return await done

    async def close(self) -> None:
        """Finish what is queued, then stop (the app does this before closing the database)."""
        while self._queue and self._task is not None and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _write_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                taken = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                try:
                    await self._write_in_order(taken)
                except Exception as exc:  # noqa: BLE001 - the writer must outlive any one batch
                    log.exception("message batch failed")
                    for send in taken:
                        send.fail(exc)

    async def _write_in_order(self, sends: list[QueuedSend]) -> None:
        """Text messages go in batches; a file message (its file is checked in its transaction)
        goes alone, between them, so the queue's order is the commit and push order."""
        run: list[QueuedSend] = []
        for send in sends:
            if send.new.msg_type == MSG_TEXT:
                run.append(send)
                continue
            if run:
                await self._write_batch(run)
                run = []
            await self._write_one(send)
        if run:
            await self._write_batch(run)

    async def _write_batch(self, sends: list[QueuedSend]) -> None:
        try:
            async with self._db.begin() as conn:
                appended = await message_store.append_batch(conn, [send.new for send in sends])
                groups = sorted({a.row["conversation_id"] for a in appended if a.conversation.type != CONVERSATION_DIRECT})
                members = await message_store.member_ids_of_many(conn, groups) if groups else {}
                read_peer = [await self._reply_reads(conn, a) for a in appended]
        except message_store.NotMembers as refused:
            # Someone left or was removed meanwhile: refuse their messages, write the others.
            rest = []
            for send in sends:
                if (send.new.conversation_id, send.new.sender_id) in refused.pairs:
                    send.fail(NotFound(NO_SUCH_CONVERSATION))
                else:
                    rest.append(send)
            if rest:
                await self._write_batch(rest)
            return
        except IntegrityError:
            # A client_msg_id already stored (a racing resend): each alone sorts out which.
            for send in sends:
                await self._write_one(send)
            return
        except Exception as exc:  # noqa: BLE001 - every sender hears of it (503 for an outage)
            for send in sends:
                send.fail(exc)
            return
        for send, done, reads in zip(sends, appended, read_peer):
            conversation = done.conversation
            audience = [conversation.direct_low_id, conversation.direct_high_id] if conversation.type == CONVERSATION_DIRECT else members[done.row["conversation_id"]]
            self._announce(send, done.row, audience, reads)

    async def _reply_reads(self, conn, appended: message_store.BatchAppended) -> bool:
        """A direct reply past unread peer messages makes them read (seed 000)."""
        if appended.conversation.type != CONVERSATION_DIRECT or appended.previous_read_seq >= appended.row["seq"] - 1:
            return False
        return await message_store.mark_direct_read(conn, appended.row["conversation_id"], appended.row["sender_id"], appended.row["seq"]) > 0

    async def _write_one(self, send: QueuedSend) -> None:
        new = send.new
        try:
            async with self._db.begin() as conn:
                conversation = await require_member(conn, new.conversation_id, new.sender_id, lock=True)
                content, file_id = new.content, None
                if new.msg_type != MSG_TEXT:
                    shared = await shareable_file(conn, new.sender_id, new.content, new.msg_type)
                    content, file_id = file_reference(shared), shared.id
                row = await message_store.append_message(
                    conn,
                    NewMessage(new.conversation_id, new.sender_id, direct_peer_id(conversation, new.sender_id), content, new.msg_type, new.client_msg_id, file_id),
                )
                reads = False
                if conversation.type == CONVERSATION_DIRECT:
                    audience = [conversation.direct_low_id, conversation.direct_high_id]
                    if conversation.last_read_seq < row["seq"] - 1:
                        reads = await message_store.mark_direct_read(conn, conversation.id, new.sender_id, row["seq"]) > 0
                else:
                    audience = await conversation_store.member_ids(conn, conversation.id)
        except IntegrityError as exc:
            send.fail(DuplicateClientId() if new.client_msg_id is not None else exc)
            return
        except Exception as exc:  # noqa: BLE001 - the sender hears of it
            send.fail(exc)
            return
        self._announce(send, row, audience, reads)

    def _announce(self, send: QueuedSend, row: dict, audience: list[int], read_peer_messages: bool) -> None:
        vo = message_vo(row)
        self._pusher.to_users(audience, "message.new", vo, exclude=send.origin)
        if read_peer_messages:
            read = {"conversation_id": row["conversation_id"], "user_id": row["sender_id"], "last_read_seq": row["seq"]}
            self._pusher.to_users(audience, "message.read", read, exclude=send.origin)
        send.succeed(vo, True)
