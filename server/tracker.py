"""The connection tracker: user → open sockets, presence, and pushing events.

Every frame a socket sends out (replies and pushes alike) goes through that socket's bounded
queue and is written by the socket's own writer task, so a slow client only ever fills its own
queue: a broadcast never waits for it. A full queue closes that socket with 1013."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web

from server.json import dumps

log = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013  # the client fell too far behind on reading
CLOSE_POLICY = WSCloseCode.POLICY_VIOLATION  # 1008: token expired or revoked
CLOSE_GOING_AWAY = WSCloseCode.GOING_AWAY  # 1001: server shutting down
CLOSE_WAIT_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class _CloseFrame:
    """Put in the queue in place of what was waiting there: the writer sends the close frame."""

    code: int
    message: str


class Connection:
    """One open socket of one user.

    Only the writer task ever writes to the socket, the close frame included: aiohttp's writes
    share one "transport drained" future, so a second task writing while the first waits for a
    slow reader would be woken, or cancelled, with it. The close frame goes out after the frame
    the writer may be sending, nothing follows it, and a peer that takes neither within
    CLOSE_WAIT_SECONDS is cut off."""

    def __init__(
        self, ws: web.WebSocketResponse, transport: asyncio.Transport | None, user_id: int, token_id: str, token_expires_at: int, queue_max: int
    ) -> None:
        self.ws = ws
        self.user_id = user_id
        self.token_id = token_id
        self.token_expires_at = token_expires_at
        self._transport = transport
        self._queue: asyncio.Queue[str | _CloseFrame] = asyncio.Queue(queue_max)
        self._writer: asyncio.Task | None = None
        self._closing: asyncio.Task | None = None
        # Cleared while a frame is being handled, so shutdown can let it commit and reply.
        self.idle = asyncio.Event()
        self.idle.set()

    @property
    def closing(self) -> bool:
        return self._closing is not None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name=f"ws-writer-user-{self.user_id}")

    def send_text(self, frame: str) -> None:
        """Queue an already serialized frame; never waits."""
        if self._closing is not None:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("user %s: send queue full, closing the socket with 1013", self.user_id)
            self.close(CLOSE_TRY_AGAIN_LATER, "send queue full")

    def push(self, event: str, data: Any) -> None:
        self.send_text(dumps({"type": event, "data": data}))

    def close(self, code: int, message: str = "") -> None:
        """Close from any task without waiting; what is still queued is dropped."""
        if self._closing is not None:
            return
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
        self._queue.put_nowait(_CloseFrame(code, message))  # there is room: the queue was just emptied
        self._closing = asyncio.create_task(self._close(code, message), name=f"ws-close-user-{self.user_id}")

    async def finish_and_close(self, code: int, message: str, wait_seconds: float) -> None:
        """Let the frame in hand finish and what is queued flush, within `wait_seconds`, then close."""
        try:
            await asyncio.wait_for(self._settle(), wait_seconds)
        except TimeoutError:
            pass
        self.close(code, message)
        await asyncio.shield(self._closing)

    async def stop_writer(self) -> None:
        """The socket's reader is done. A close under way may finish (it is bounded in time);
        otherwise the writer is stopped."""
        if self._closing is not None:
            await asyncio.shield(self._closing)
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
            try:
                await self._writer
            except asyncio.CancelledError:
                pass

    async def _settle(self) -> None:
        await self.idle.wait()
        await self._queue.join()

    async def _write_forever(self) -> bool:
        """Write queued frames until the close frame: True once that is sent, False when the
        peer is gone."""
        while True:
            frame = await self._queue.get()
            try:
                if isinstance(frame, _CloseFrame):
                    await self.ws.close(code=frame.code, message=frame.message.encode())
                    return True
                await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return False  # the peer is gone; the reader notices and unregisters
            finally:
                self._queue.task_done()

    async def _close(self, code: int, message: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_WAIT_SECONDS
        closed = False
        try:
            if self._writer is not None and not self._writer.done():
                finished, _ = await asyncio.wait({self._writer}, timeout=CLOSE_WAIT_SECONDS)
                closed = bool(finished) and not self._writer.cancelled() and self._writer.exception() is None and self._writer.result()
            else:  # no writer (never started, or stopped): close from here
                await asyncio.wait_for(self.ws.close(code=code, message=message.encode()), CLOSE_WAIT_SECONDS)
                closed = True
            # aiohttp ends with a graceful transport.close(), which waits for the unread backlog
            # to be written: a peer that reads nothing would hold the connection forever.
            while closed and self._backlog() and loop.time() < deadline:
                await asyncio.sleep(0.05)
            closed = closed and not self._backlog()
        except (TimeoutError, ConnectionError, RuntimeError):
            pass
        finally:
            if not closed and self._transport is not None:
                self._transport.abort()

    def _backlog(self) -> int:
        return self._transport.get_write_buffer_size() if self._transport is not None else 0


PresenceAudience = Callable[[int], Awaitable[list[int]]]


class ConnectionTracker:
    """Implements `handlers.push.Pusher` for the services."""

    def __init__(self) -> None:
        self._by_user: dict[int, set[Connection]] = {}
        self._last_seen: dict[int, int] = {}
        self.presence_audience: PresenceAudience | None = None
        self._background: set[asyncio.Task] = set()
        self._shutting_down = False

    def add(self, conn: Connection) -> bool:
        """Register a socket; True when it is the user's first (the user came online)."""
        sockets = self._by_user.setdefault(conn.user_id, set())
        sockets.add(conn)
        return len(sockets) == 1

    def remove(self, conn: Connection) -> bool:
        """Unregister a socket; True when it was the user's last (the user went offline)."""
        sockets = self._by_user.get(conn.user_id)
        if sockets is None or conn not in sockets:
            return False
        sockets.discard(conn)
        if sockets:
            return False
        del self._by_user[conn.user_id]
        self._last_seen[conn.user_id] = int(time.time() * 1000)
        return True

    def is_online(self, user_id: int) -> bool:
        return user_id in self._by_user

    def connections(self) -> list[Connection]:
        return [conn for sockets in self._by_user.values() for conn in sockets]

    def sockets_of(self, user_id: int) -> frozenset[Connection]:
        return frozenset(self._by_user.get(user_id, ()))

    def to_users(self, user_ids: Iterable[int], event: str, data: Any, *, exclude: Any = None) -> None:
        frame: str | None = None
        for user_id in user_ids:
            sockets = self._by_user.get(user_id)
            if not sockets:
                continue
            if frame is None:
                frame = dumps({"type": event, "data": data})
            for conn in sockets:
                if conn is not exclude:
                    conn.send_text(frame)

    def announce_later(self, user_id: int, online: bool) -> None:
        """Announce in a task of its own: a socket's handler may be cancelled (its peer left, the
        server stops) and the announcement must not die with it. Nothing is announced once the
        server is shutting down: every socket is going, and the database soon with them."""
        if self._shutting_down or self.presence_audience is None:
            return
        task = asyncio.create_task(self._announce_safely(user_id, online), name=f"presence-{user_id}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _announce_safely(self, user_id: int, online: bool) -> None:
        try:
            await self.announce_presence(user_id, online)
        except Exception:  # noqa: BLE001 - presence is best effort; the socket itself is fine
            log.exception("presence of user %s could not be announced", user_id)

    async def announce_presence(self, user_id: int, online: bool) -> None:
        if self.presence_audience is None:
            return
        audience = await self.presence_audience(user_id)
        if self.is_online(user_id) != online:
            # The user came or went again while the audience was being looked up: this news is
            # stale, and the announcement of the newer change is on its way.
            return
        last_seen = None if online else self._last_seen.get(user_id)
        self.to_users(audience, "presence", {"user_id": user_id, "online": online, "last_seen": last_seen})

    def begin_shutdown(self) -> None:
        self._shutting_down = True

    async def settle(self, timeout: float) -> None:
        """Wait up to `timeout` for pending announcements, then cancel what is left."""
        pending = set(self._background)
        if pending:
            _, late = await asyncio.wait(pending, timeout=timeout)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)

    def close_token(self, token_id: str, code: int = CLOSE_POLICY, message: str = "token revoked") -> int:
        closing = [conn for conn in self.connections() if conn.token_id == token_id]
        for conn in closing:
            conn.close(code, message)
        return len(closing)

    def close_expired(self, now_seconds: int) -> int:
        expired = [conn for conn in self.connections() if conn.token_expires_at <= now_seconds]
        for conn in expired:
            conn.close(CLOSE_POLICY, "token expired")
        return len(expired)
