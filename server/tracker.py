"""The connection tracker: user → open sockets, presence, and pushing events.

A pushed event is serialized and framed once (server frames are unmasked, so the same wire bytes
go to every socket). A socket that has nothing waiting and whose transport is not paused gets
them with one `transport.write`, without a task switch. Otherwise the frame waits in that
socket's bounded queue and the socket's writer task, made on first need and gone again once
the queue is empty, writes it when the peer reads. So a slow client only ever fills its own
queue: a broadcast never waits for it. A full queue closes that socket with 1013."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web

from handlers.events import PRESENCE
from handlers.metrics import SOCKET_CLOSES
from handlers.plugin_push import check_push
from server.json import dumps_bytes

log = logging.getLogger(__name__)

CLOSE_TRY_AGAIN_LATER = 1013  # the client fell too far behind on reading
CLOSE_POLICY = WSCloseCode.POLICY_VIOLATION  # 1008: token expired or revoked
CLOSE_GOING_AWAY = WSCloseCode.GOING_AWAY  # 1001: server shutting down
CLOSE_WAIT_SECONDS = 1.0
# Presence lookups of a reconnect storm are spaced at least this far apart, each answering the
# users queued meanwhile (as handlers.services.session_lookups does for tokens): news of a
# coming or going waits at most this long.
PRESENCE_GATHER_SECONDS = 0.005

_PACK_LEN1 = struct.Struct("!BB").pack
_PACK_LEN2 = struct.Struct("!BBH").pack
_PACK_LEN3 = struct.Struct("!BBQ").pack
_FIN_TEXT = 0x81  # FIN, opcode 1 (text), no RSV bits: an uncompressed message in one frame


def text_frame(payload: bytes) -> bytes:
    """The whole wire frame of a server → client text message (RFC 6455 §5.2: unmasked)."""
    length = len(payload)
    if length < 126:
        return _PACK_LEN1(_FIN_TEXT, length) + payload
    if length < 65536:
        return _PACK_LEN2(_FIN_TEXT, 126, length) + payload
    return _PACK_LEN3(_FIN_TEXT, 127, length) + payload


def event_frame(event: str, data: Any) -> bytes:
    """The wire frame of a pushed event `{"type": event, "data": data}`."""
    return text_frame(dumps_bytes({"type": event, "data": data}))


@dataclass(frozen=True, slots=True)
class _CloseFrame:
    """Put in the queue in place of what was waiting there: the writer sends the close frame."""

    code: int
    message: str


class Connection:
    """One open socket of one user.

    Frames leave in the order they were handed over (replies and pushes alike), and at any
    moment exactly one party writes to the socket:

    - Direct: while nothing waits in the queue (so there is no writer task) and the transport is
      not paused, `send_frame` writes the whole frame with `transport.write` and returns. It
      never awaits, so it never takes part in aiohttp's drain. aiohttp itself (compression off)
      writes its control frames (ping, pong, close) whole and synchronously too, so frames never
      interleave mid-frame.
    - Queued: otherwise the frame is appended to the bounded queue and the writer task (created
      then) writes what is queued, waiting for the transport to drain whenever it is paused. New
      frames queue behind it until it has written everything; then it ends, and frames go
      direct again. A full queue closes the socket with 1013.

    Only the writer task ever waits for the transport to drain, the close frame included:
    aiohttp's writes share one "transport drained" future, so a second task writing while the
    first waits for a slow reader would be woken, or cancelled, with it. The close frame goes
    out after the frame the writer may be sending, nothing follows it, and a peer that takes
    neither within CLOSE_WAIT_SECONDS is cut off.

    An idle socket holds no task, queue or event: they are made on first need."""

    __slots__ = (
        "ws",
        "user_id",
        "token_id",
        "token_expires_at",
        "token_generation",
        "session_id",
        "_transport",
        "_protocol",
        "_queue_max",
        "_pending",
        "_writer",
        "_closing",
        "_frames_started",
        "_frames_done",
        "_settled",
        "_draining",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        user_id: int,
        token_id: str,
        token_expires_at: int,
        queue_max: int,
        protocol: Any = None,
        token_generation: int = 0,
        session_id: int | None = None,
    ) -> None:
        """`token_id`: what revokes the socket's token (`TokenClaims.revocation_key`). A socket
        of a session lives as long as the session does, whatever its token's expiry: the client
        refreshes its token over REST, the socket keeps going."""
        self.ws = ws
        self.user_id = user_id
        self.token_id = token_id
        self.token_expires_at = token_expires_at
        self.token_generation = token_generation
        self.session_id = session_id
        self._transport = transport
        # aiohttp's protocol of the connection (its `_paused` is asyncio's flow control: the
        # transport's write buffer is above the high-water mark). Without one, nothing goes direct.
        if protocol is None:
            protocol = getattr(getattr(ws, "_writer", None), "protocol", None)
        self._protocol = protocol
        self._queue_max = queue_max
        self._pending: deque[bytes | _CloseFrame] | None = None  # made on first need
        self._writer: asyncio.Task | None = None  # exists exactly while something is queued
        self._closing: asyncio.Task | None = None
        # Frames of the client's taken by the reader and handled (replied to): one is in hand
        # while they differ. Shutdown lets it commit and reply.
        self._frames_started = 0
        self._frames_done = 0
        self._settled: asyncio.Future | None = None  # made while shutdown waits; woken by progress
        self._draining = False  # shutdown has begun: no new frame is taken

    @property
    def takes_frames(self) -> bool:
        """False once shutdown or a close has begun: a frame taken now could commit after its
        reply can no longer be sent, and the contract tells clients an unreplied frame was not
        handled."""
        return not self._draining and self._closing is None

    @property
    def closing(self) -> bool:
        return self._closing is not None

    @property
    def queued(self) -> int:
        """Frames waiting for the writer task."""
        pending = self._pending
        return len(pending) if pending is not None else 0

    # --- sending ----------------------------------------------------------------------------

    def send_frame(self, frame: bytes) -> None:
        """Send a whole wire frame (`text_frame`); never waits. Straight to the transport when
        nothing is queued and it is not paused, else through the queue."""
        if self._closing is not None:
            return
        if self._writer is None:
            protocol = self._protocol
            transport = self._transport
            if protocol is not None and transport is not None and not protocol._paused:
                if transport.is_closing() or self.ws.closed:
                    return  # the peer is gone or the socket is closing: nothing may follow
                try:
                    transport.write(frame)
                except (ConnectionError, RuntimeError):
                    pass  # the peer is gone; the reader notices and unregisters
                return
        self._enqueue(frame)

    def send_json(self, payload: bytes) -> None:
        """Send one already serialized JSON message as a text frame; never waits."""
        self.send_frame(text_frame(payload))

    def push(self, event: str, data: Any) -> None:
        """`ctx.socket.push` of a handler (the server's own pushes go through the tracker)."""
        check_push(event)  # a plugin's event carries its prefix
        self.send_frame(event_frame(event, data))

    def _enqueue(self, frame: bytes) -> None:
        pending = self._pending
        if pending is None:
            pending = self._pending = deque()
        if 0 < self._queue_max <= len(pending):
            log.warning("user %s: send queue full, closing the socket with 1013", self.user_id)
            self.close(CLOSE_TRY_AGAIN_LATER, "send queue full")
            return
        pending.append(frame)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_pending(), name=f"ws-writer-user-{self.user_id}")

    async def _write_pending(self) -> bool:
        """Write what is queued, in order, until the queue is empty (False: the socket stays
        open and frames go direct again), the close frame is sent (True), or the peer is gone
        (False)."""
        pending = self._pending
        protocol = self._protocol
        transport = self._transport
        try:
            while pending:
                frame = pending[0]
                if frame.__class__ is _CloseFrame:
                    pending.popleft()
                    await self.ws.close(code=frame.code, message=frame.message.encode())
                    return True
                if protocol is not None and protocol._paused:
                    # The peer reads slowly: wait until the transport has room. What arrives
                    # meanwhile queues behind (and a full queue closes the socket).
                    await protocol._drain_helper()
                    continue
                pending.popleft()
                if transport is None or transport.is_closing() or self.ws.closed:
                    pending.clear()
                    return False
                transport.write(frame)
            return False
        except (ConnectionError, RuntimeError):
            pending.clear()
            return False  # the peer is gone; the reader notices and unregisters
        finally:
            # Synchronously with the last write: from here on, frames go direct again.
            if self._writer is asyncio.current_task():
                self._writer = None
            self._wake_settle()

    # --- frames in hand, and settling before shutdown ---------------------------------------

    def frame_started(self) -> None:
        """The reader took a frame of the client's: shutdown lets it commit and reply."""
        self._frames_started += 1

    def frame_done(self) -> None:
        """Its reply has been handed to `send_json`."""
        self._frames_done += 1
        self._wake_settle()

    def _wake_settle(self) -> None:
        settled = self._settled
        if settled is not None:
            self._settled = None
            if not settled.done():
                settled.set_result(None)

    async def _progress(self) -> None:
        """Until the next frame is done or the writer task ends."""
        if self._settled is None:
            self._settled = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._settled)

    async def _settle(self) -> None:
        """Until the frame in hand now (if any) is done and what is queued is written."""
        in_hand = self._frames_started
        while self._frames_done < in_hand:
            await self._progress()
        while self._writer is not None and not self._writer.done():
            await self._progress()

    # --- closing ----------------------------------------------------------------------------

    def close(self, code: int, message: str = "") -> None:
        """Close from any task without waiting; what is still queued is dropped."""
        if self._closing is not None:
            return
        SOCKET_CLOSES(int(code)).inc()
        writer = self._writer
        if writer is not None and not writer.done():
            pending = self._pending
            pending.clear()
            pending.append(_CloseFrame(code, message))  # the writer sends it after the frame in hand
        else:
            writer = None
        self._closing = asyncio.get_running_loop().create_task(self._close(code, message, writer), name=f"ws-close-user-{self.user_id}")

    async def finish_and_close(self, code: int, message: str, wait_seconds: float) -> None:
        """Let the frame in hand finish and what is queued flush, within `wait_seconds`, then close."""
        self._draining = True
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
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
            try:
                await writer
            except asyncio.CancelledError:
                pass
        self._writer = None
        if self._pending is not None:
            self._pending.clear()
        self._wake_settle()

    async def _close(self, code: int, message: str, writer: asyncio.Task | None) -> None:
        """`writer`: the writer task that has the close frame last in its queue, or None when
        nothing was queued (then the close frame is sent from here)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_WAIT_SECONDS
        closed = False
        try:
            if writer is not None:
                finished, _ = await asyncio.wait({writer}, timeout=CLOSE_WAIT_SECONDS)
                closed = bool(finished) and not writer.cancelled() and writer.exception() is None and writer.result()
            else:  # nothing queued, so no writer: close from here
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


# {user_id: the users to tell that user_id came or went}, for many users in one lookup.
PresenceAudiences = Callable[[list[int]], Awaitable[dict[int, list[int]]]]


class ConnectionTracker:
    """Implements `handlers.push.Pusher` for the services."""

    def __init__(self) -> None:
        # A tuple, not a set: a user has a socket or a few, and a set of one costs an idle socket
        # 216 bytes against 56. Adding or removing copies the user's tuple (a few microseconds
        # even for thousands of sockets of one user, against ~0.7 ms of CPU per handshake).
        self._by_user: dict[int, tuple[Connection, ...]] = {}
        self._last_seen: dict[int, int] = {}
        self.presence_audiences: PresenceAudiences | None = None
        # Whether another process of the cluster holds a socket of the user: then this one's
        # first or last socket changes nothing for the user's partners.
        self.online_elsewhere: Callable[[int], bool] = lambda user_id: False
        # Where announcements go: every process's sockets (the delivery sets it), else ours.
        self.announce_to: Callable[[list[int], str, Any], None] | None = None
        self._background: set[asyncio.Task] = set()
        # {user_id: (online, local_only)} waiting for the announcer task.
        self._presence_queue: dict[int, tuple[bool, bool]] = {}
        self._announcer: asyncio.Task | None = None
        self._looked_up_at = float("-inf")
        self._shutting_down = False

    def add(self, conn: Connection) -> bool:
        """Register a socket; True when it is the user's first (the user came online)."""
        sockets = self._by_user.get(conn.user_id, ())
        if conn not in sockets:
            self._by_user[conn.user_id] = (*sockets, conn)
        return not sockets

    def remove(self, conn: Connection) -> bool:
        """Unregister a socket; True when it was the user's last (the user went offline)."""
        sockets = self._by_user.get(conn.user_id)
        if sockets is None or conn not in sockets:
            return False
        if len(sockets) > 1:
            at = sockets.index(conn)
            self._by_user[conn.user_id] = sockets[:at] + sockets[at + 1 :]
            return False
        del self._by_user[conn.user_id]
        self._last_seen[conn.user_id] = int(time.time() * 1000)
        return True

    def is_online(self, user_id: int) -> bool:
        return user_id in self._by_user

    def online_users(self) -> list[int]:
        return list(self._by_user)

    def connections(self) -> list[Connection]:
        return [conn for sockets in self._by_user.values() for conn in sockets]

    def sockets_of(self, user_id: int) -> frozenset[Connection]:
        return frozenset(self._by_user.get(user_id, ()))

    def to_users(self, user_ids: Iterable[int], event: str, data: Any, *, exclude: Any = None) -> None:
        """Serialized and framed once, on finding the first open socket; written straight to
        every socket that has nothing queued (see `Connection`)."""
        frame: bytes | None = None
        by_user = self._by_user
        for user_id in user_ids:
            sockets = by_user.get(user_id)
            if not sockets:
                continue
            if frame is None:
                frame = event_frame(event, data)
            for conn in sockets:
                if conn is not exclude:
                    conn.send_frame(frame)

    def announce_later(self, user_id: int, online: bool, *, local_only: bool = False) -> None:
        """Queue the announcement for one task that looks the audiences of everything queued up
        in one query: a reconnect storm after a deploy opens thousands of sockets a second, and
        a round trip each would double the cost of a handshake. The task runs apart from the
        socket's handler, which may be cancelled (its peer left, the server stops) while the
        announcement must still go out. Nothing is announced once the server is shutting down:
        every socket is going, and the database soon with them. `local_only`: to this
        process's sockets alone (each process announces it itself)."""
        if self._shutting_down or self.presence_audiences is None:
            return
        queued = self._presence_queue.get(user_id)
        # The newest news wins; it goes to everyone's sockets if either asked for that.
        self._presence_queue[user_id] = (online, local_only and (queued is None or queued[1]))
        if self._announcer is None or self._announcer.done():
            self._announcer = asyncio.create_task(self._announce_queued(), name="presence")
            self._background.add(self._announcer)
            self._announcer.add_done_callback(self._background.discard)

    async def _announce_queued(self) -> None:
        loop = asyncio.get_running_loop()
        while self._presence_queue and self.presence_audiences is not None:
            gathering = self._looked_up_at + PRESENCE_GATHER_SECONDS - loop.time()
            if gathering > 0:
                await asyncio.sleep(gathering)
                continue  # the queue may have been taken over by shutdown meanwhile
            self._looked_up_at = loop.time()
            queued, self._presence_queue = self._presence_queue, {}
            try:
                audiences = await self.presence_audiences(list(queued))
            except Exception:  # noqa: BLE001 - presence is best effort; the sockets themselves are fine
                log.exception("presence of %s users could not be announced", len(queued))
                continue
            for user_id, (online, local_only) in queued.items():
                self._announce(user_id, online, audiences.get(user_id, ()), local_only)

    def _announce(self, user_id: int, online: bool, audience: Iterable[int], local_only: bool) -> None:
        if self.is_online(user_id) != online or self.online_elsewhere(user_id):
            # The user came or went again while the audience was being looked up (this news
            # is stale, and the announcement of the newer change is queued), or another
            # process holds a socket of theirs: to their partners nothing changed.
            return
        audience = list(audience)
        if not audience:
            return
        last_seen = None if online else self._last_seen.get(user_id, int(time.time() * 1000))
        push = self.to_users if local_only or self.announce_to is None else self.announce_to
        push(audience, PRESENCE, {"user_id": user_id, "online": online, "last_seen": last_seen})

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

    def close_user(self, user_id: int, message: str = "tokens revoked", *, keep_token: str | None = None) -> int:
        """Close every socket of the user (1008): their tokens were revoked, or they were disabled;
        but those of token `keep_token` (a password change's caller)."""
        closing = [conn for conn in self.sockets_of(user_id) if keep_token is None or conn.token_id != keep_token]
        for conn in closing:
            conn.close(CLOSE_POLICY, message)
        return len(closing)

    def close_ended_sessions(self, sessions: dict[int, tuple[int, str | None] | None]) -> int:
        """`sessions`: {user_id: (the token generation still valid, the id of a token valid
        whatever its generation or None), or None when the user is disabled}; the sockets of other
        generations but the kept token's, and all of a disabled user's, close (1008). Generations
        concern tokens without a session only (a session is revoked by its own row)."""
        closed = 0
        for user_id, session in sessions.items():
            generation, kept = session if session is not None else (None, None)
            for conn in list(self.sockets_of(user_id)):
                if generation is None or (conn.session_id is None and conn.token_generation != generation and conn.token_id != kept):
                    conn.close(CLOSE_POLICY, "account disabled" if generation is None else "tokens revoked")
                    closed += 1
        return closed

    def close_expired(self, now_seconds: int) -> int:
        expired = [conn for conn in self.connections() if conn.session_id is None and conn.token_expires_at <= now_seconds]
        for conn in expired:
            conn.close(CLOSE_POLICY, "token expired")
        return len(expired)
