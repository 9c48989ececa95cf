"""The load the scenarios put on the servers.

A Sender sends its messages with `client_msg_id`s, `window` frames pipelined on one socket, and
does what the contract asks of a client: a frame that got no reply (the socket went away) is
resent with the same `client_msg_id` after reconnecting, to the next server URL; a 503 or 429
is retried after `retry_after_ms`. A Follower keeps a socket open to hear the pushes, and after
losing it reconnects and catches up with `history after=` the highest seq it holds."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field

import aiohttp

from tests.faults.checker import Checker
from tests.faults.client import Dialer, Link, LinkLost
from tests.faults.world import World

RETRY_AFTER_MAX = 0.5
FILLER = "\U0001F4AC"  # 💬
HISTORY_PAGE = 100


@dataclass(frozen=True, slots=True)
class Outgoing:
    index: int
    client_msg_id: str
    conversation_id: int
    content: str


@dataclass
class SendStats:
    acked: int = 0
    codes: Counter = field(default_factory=Counter)
    # (reply code, seconds from send to reply, monotonic time of the reply)
    replies: list[tuple[int, float, float]] = field(default_factory=list)
    reconnects: int = 0
    unreplied: int = 0
    sent_at: dict[str, float] = field(default_factory=dict)  # client_msg_id → when last sent


def outgoing(client: str, conversations: list[int], count: int, content_chars: int = 40) -> list[Outgoing]:
    """`count` messages spread over `conversations` in turn, each with a fresh client_msg_id.
    The content is padded with a four-byte character: the most bytes per allowed character."""
    tag = uuid.uuid4().hex[:8]
    messages = []
    for index in range(count):
        content = (f"{client} #{index} " + FILLER * content_chars)[:content_chars]
        messages.append(Outgoing(index, f"{tag}-{index}", conversations[index % len(conversations)], content))
    return messages


class Sender:
    def __init__(
        self,
        dialer: Dialer,
        messages: list[Outgoing],
        checker: Checker,
        *,
        window: int = 1,
        interval: float = 0.0,
        strict: bool = True,
    ) -> None:
        self.dialer = dialer
        self.checker = checker
        self.window = window
        self.interval = interval
        self.strict = strict
        self.stats = SendStats()
        self.links: list[Link] = []
        self.pending: deque[Outgoing] = deque(sorted(messages, key=lambda o: o.index))
        self.total = len(messages)

    @property
    def done(self) -> bool:
        return not self.pending

    async def run(self, deadline: float) -> None:
        """Until every message is acked (or refused for good), or the deadline."""
        while self.pending and time.monotonic() < deadline:
            try:
                link = await self.dialer.connect(deadline)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                return  # no server answered before the deadline
            self.links.append(link)
            if self.strict:
                self.checker.strict(link.label)
            try:
                await self._send_on(link, deadline)
            finally:
                await link.close()
            if self.pending:
                self.stats.reconnects += 1

    async def _send_on(self, link: Link, deadline: float) -> None:
        in_flight: dict[asyncio.Future, tuple[Outgoing, float]] = {}
        lost: list[Outgoing] = []
        retry: list[Outgoing] = []
        # The deadline is checked here too: answers that come back at once (503s during an
        # outage) would otherwise keep this loop going past it.
        while (self.pending or in_flight) and not lost and time.monotonic() < deadline:
            while self.pending and len(in_flight) < self.window and not link.closed:
                out = self.pending.popleft()
                self.checker.sent(link.label, out.client_msg_id)
                self.stats.sent_at[out.client_msg_id] = time.monotonic()
                future = await link.send(
                    "send_message", {"conversation_id": out.conversation_id, "content": out.content, "client_msg_id": out.client_msg_id}
                )
                in_flight[future] = (out, time.monotonic())
                if self.interval:
                    await asyncio.sleep(self.interval)
            if not in_flight:
                break
            done, _ = await asyncio.wait(in_flight, timeout=max(0.0, deadline - time.monotonic()), return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break  # the deadline: what is in flight counts as unreplied below
            pause = 0.0
            for future in done:
                out, started = in_flight.pop(future)
                if future.exception() is not None:
                    lost.append(out)
                    continue
                pause = max(pause, self._settle(link, out, future.result(), started, retry))
            if pause:
                await asyncio.sleep(pause)
            self.pending.extendleft(sorted(retry, key=lambda o: o.index, reverse=True))
            retry.clear()
        # The socket is gone: whatever is still in flight got no reply either.
        for future, (out, _) in in_flight.items():
            future.cancel()
            lost.append(out)
        self.stats.unreplied += len(lost)
        self.pending.extendleft(sorted(lost, key=lambda o: o.index, reverse=True))

    def _settle(self, link: Link, out: Outgoing, reply: dict, started: float, retry: list[Outgoing]) -> float:
        """Note one reply; the seconds to wait before a retry (0 for none)."""
        now = time.monotonic()
        code = reply.get("code")
        self.stats.codes[code] += 1
        self.stats.replies.append((code, now - started, now))
        if not isinstance(code, int) or not isinstance(reply.get("message"), str) or "data" not in reply:
            self.checker.fault(f"socket {link.label}: malformed reply {reply}")
            return 0.0
        self.checker.replied(link.label, out.client_msg_id, code, reply["data"])
        if 200 <= code < 300:
            self.stats.acked += 1
            return 0.0
        if code in (429, 503):
            retry.append(out)
            retry_after = (reply.get("data") or {}).get("retry_after_ms")
            if not isinstance(retry_after, int):
                self.checker.fault(f"socket {link.label}: {code} without data.retry_after_ms: {reply}")
                return RETRY_AFTER_MAX
            return min(retry_after / 1000, RETRY_AFTER_MAX)
        self.checker.fault(f"socket {link.label}: send {out.client_msg_id!r} answered {code} {reply.get('message')!r}")
        return 0.0


def senders(
    session: aiohttp.ClientSession,
    checker: Checker,
    world: World,
    *,
    per_user: int,
    count: int,
    content_chars: int = 40,
    **options: float | bool,
) -> list[Sender]:
    """`per_user` senders for every account, each sending `count` messages into the account's
    conversations, the first socket of each on a different server URL."""
    made = []
    for n, account in enumerate(world.accounts):
        for k in range(per_user):
            name = f"sender{n}.{k}"
            dialer = Dialer(session, checker.urls, account, checker, name, start=len(made))
            made.append(Sender(dialer, outgoing(name, world.conversations_of(n), count, content_chars), checker, **options))
    return made


def followers(session: aiohttp.ClientSession, checker: Checker, world: World) -> list[Follower]:
    """A follower for every account, following the account's conversations."""
    return [
        Follower(Dialer(session, checker.urls, account, checker, f"reader{n}", start=n), world.conversations_of(n), checker)
        for n, account in enumerate(world.accounts)
    ]


class Follower:
    """Hears pushes on one socket at a time; each new socket first catches up with history."""

    def __init__(self, dialer: Dialer, conversations: list[int], checker: Checker) -> None:
        self.dialer = dialer
        self.conversations = conversations
        self.checker = checker
        self.highest = {conversation: 0 for conversation in conversations}
        self.links: list[Link] = []
        self.link: Link | None = None

    async def open(self, deadline: float) -> Link:
        """A new socket (the old one is closed first), caught up with history."""
        if self.link is not None:
            await self.link.close()
            self._absorb(self.link)
        self.link = await self.dialer.connect(deadline)
        self.links.append(self.link)
        for conversation in self.conversations:
            await self._catch_up(self.link, conversation)
        return self.link

    async def _catch_up(self, link: Link, conversation: int) -> None:
        # From what the old sockets got, not from pushes already on this one: those may have
        # jumped over messages committed while the follower had no socket.
        after = self.highest[conversation]
        while True:
            reply = await link.request("history", {"conversation_id": conversation, "after": after, "limit": HISTORY_PAGE})
            if reply.get("code") != 200:
                self.checker.fault(f"socket {link.label}: history answered {reply}")
                return
            self.checker.fetched(self.dialer.client, reply["data"])
            if reply["data"]:
                after = reply["data"][-1]["seq"]
                self.highest[conversation] = max(self.highest[conversation], after)
            if len(reply["data"]) < HISTORY_PAGE:
                return

    def _absorb(self, link: Link) -> None:
        for conversation, seq in link.highest.items():
            if conversation in self.highest:
                self.highest[conversation] = max(self.highest[conversation], seq)

    async def settle(self, deadline: float) -> None:
        """Until the socket has heard everything committed before now (a ping round trip; a
        lost socket is replaced and catches up)."""
        while time.monotonic() < deadline:
            try:
                if self.link is None or self.link.closed:
                    await self.open(deadline)
                await self.link.request("ping")
                return
            except (LinkLost, asyncio.TimeoutError):
                continue

    async def close(self) -> None:
        if self.link is not None:
            await self.link.close()
