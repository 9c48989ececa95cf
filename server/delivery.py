"""Delivery: every push of the services reaches this process's sockets (through the connection
tracker) and the other processes (through the bus), and committed messages reach every socket
in their conversation's seq order (through the sequencer). Implements `handlers.push.Pusher`.

In a cluster it also keeps who is online on the other processes (their presence news and
heartbeats): a user is online while any process holds one of their sockets, and the users of a
process that stopped beating for `node_timeout_seconds` (killed, cut off) go offline here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from handlers.lifecycle import USER_CONNECTED, USER_DISCONNECTED, Lifecycle
from handlers.plugin_push import check_push
from handlers.push import OrderedPush, Socket
from server.bus import Bus
from server.sequencer import Backfill, Sequencer
from server.tracker import Connection, ConnectionTracker

log = logging.getLogger(__name__)

NODE_TIMEOUT_SECONDS = 10.0
TAIL_CHECK_SECONDS = 1.0
# Alone, nothing is lost to check for; idle conversations are still forgotten now and then.
FORGET_IDLE_EVERY_SECONDS = 60.0

# Token ids among these that are revoked (a process that missed a logout while the bus was away).
RevokedAmong = Callable[[list[str]], Awaitable[set[str]]]


class _Node:
    __slots__ = ("online", "heard")

    def __init__(self) -> None:
        self.online: set[int] = set()
        self.heard = time.monotonic()


class Delivery:
    def __init__(self, tracker: ConnectionTracker, bus: Bus, *, node_timeout_seconds: float = NODE_TIMEOUT_SECONDS) -> None:
        self._tracker = tracker
        self._bus = bus
        self._node_timeout = node_timeout_seconds
        self._sequencer: Sequencer | None = None
        self._nodes: dict[str, _Node] = {}
        # Last seq this process committed per conversation since the previous heartbeat, and
        # the one before: a heartbeat names them so that a lost last publish is noticed.
        self._recent: dict[int, int] = {}
        self._previous_recent: dict[int, int] = {}
        self._revoked_among: RevokedAmong | None = None
        self._tasks: list[asyncio.Task] = []
        tracker.online_elsewhere = self.online_elsewhere
        tracker.announce_to = self.to_users
        # Told when a user's first socket here opens and the last one closes (the app sets it).
        self.lifecycle = Lifecycle()

    @property
    def sequencer(self) -> Sequencer:
        assert self._sequencer is not None, "Delivery.start() has not run"
        return self._sequencer

    @property
    def clustered(self) -> bool:
        return self._bus.clustered

    @property
    def bus_connected(self) -> bool | None:
        """None without a cluster bus."""
        return getattr(self._bus, "connected", None)

    async def start(self, backfill: Backfill, revoked_among: RevokedAmong | None = None) -> None:
        self._sequencer = Sequencer(self._deliver, backfill)
        self._revoked_among = revoked_among
        await self._bus.start(self)
        if self.clustered:
            self._tasks = [
                asyncio.create_task(self.sequencer.watch_tail(TAIL_CHECK_SECONDS), name="tail-watch"),
                asyncio.create_task(self._forget_silent_nodes(), name="node-timeout"),
            ]
        else:
            self._tasks = [asyncio.create_task(self.sequencer.forget_idle_forever(FORGET_IDLE_EVERY_SECONDS), name="forget-idle")]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._bus.close()
        if self._sequencer is not None:
            await self._sequencer.close()

    # --- handlers.push.Pusher ----------------------------------------------------------------

    def to_users(self, user_ids: Iterable[int], event: str, data: Any, *, exclude: Socket | None = None) -> None:
        check_push(event)  # a plugin's event carries its prefix
        user_ids = user_ids if isinstance(user_ids, list) else list(user_ids)
        self._tracker.to_users(user_ids, event, data, exclude=exclude)
        self._bus.publish_to_users(user_ids, event, data)

    def in_seq_order(self, push: OrderedPush) -> None:
        self._bus.publish_in_seq_order(push)
        if self.clustered:
            self._recent[push.conversation_id] = push.seq
        self.sequencer.accept(push)

    def recheck(self, conversation_ids: Iterable[int]) -> None:
        self.sequencer.recheck(conversation_ids)

    def is_online(self, user_id: int) -> bool:
        return self._tracker.is_online(user_id) or self.online_elsewhere(user_id)

    def online_elsewhere(self, user_id: int) -> bool:
        return any(user_id in node.online for node in self._nodes.values())

    # --- sockets opening and closing ----------------------------------------------------------

    def socket_opened(self, conn: Connection) -> None:
        if self._tracker.add(conn):
            if self.clustered:
                self._bus.publish_presence(conn.user_id, True)
            self._tracker.announce_later(conn.user_id, online=True)
            self.lifecycle.emit(USER_CONNECTED, {"user_id": conn.user_id})

    def socket_closed(self, conn: Connection) -> None:
        if self._tracker.remove(conn):
            if self.clustered:
                self._bus.publish_presence(conn.user_id, False)
            self._tracker.announce_later(conn.user_id, online=False)
            self.lifecycle.emit(USER_DISCONNECTED, {"user_id": conn.user_id})

    def close_token(self, token_id: str) -> None:
        """Close this token's sockets on every process (1008)."""
        self._tracker.close_token(token_id)
        if self.clustered:
            self._bus.publish_close(token_id=token_id)

    def close_user(self, user_id: int, message: str) -> None:
        """Close every socket of the user, on every process (1008): the account was deleted."""
        self._tracker.close_user(user_id, message)
        if self.clustered:
            self._bus.publish_close(user_id=user_id)

    def close_user_but(self, user_id: int, keep_token: str) -> None:
        """Close the user's sockets but those of token `keep_token`, on every process (1008):
        their other tokens were revoked by a password change."""
        self._tracker.close_user(user_id, keep_token=keep_token)
        if self.clustered:
            self._bus.publish_close(user_id=user_id, keep_token=keep_token)

    # --- the cluster bus's receiver ------------------------------------------------------------

    def remote_to_users(self, user_ids: list[int], event: str, data: Any) -> None:
        self._tracker.to_users(user_ids, event, data)

    def remote_in_seq_order(self, push: OrderedPush) -> None:
        self.sequencer.accept(push)

    def remote_presence(self, node: str, user_id: int, online: bool) -> None:
        known = self._nodes.setdefault(node, _Node())
        if online:
            known.online.add(user_id)
        else:
            known.online.discard(user_id)

    def remote_close(self, token_id: str | None, user_id: int | None, keep_token: str | None = None) -> None:
        """A token was revoked (logout), or all of a user's were (`hubbub user disable`, `hubbub
        token revoke`: the admin CLI publishes this, see `server.nats_bus.publish_close_user`),
        or all but `keep_token` (a password change)."""
        if token_id is not None:
            self._tracker.close_token(token_id)
        if user_id is not None:
            self._tracker.close_user(user_id, keep_token=keep_token)

    def remote_node(self, node: str, online: list[int], recent_seqs: dict[int, int]) -> None:
        known = self._nodes.setdefault(node, _Node())
        known.online = set(online)
        known.heard = time.monotonic()
        for conversation_id, seq in recent_seqs.items():
            self.sequencer.expect(conversation_id, seq)

    def local_node_state(self) -> tuple[list[int], dict[int, int]]:
        recent = {**self._previous_recent, **self._recent}
        self._previous_recent, self._recent = self._recent, {}
        return self._tracker.online_users(), recent

    def bus_resumed(self, missed_since: float) -> None:
        self.sequencer.catch_up_since(missed_since)
        if self._revoked_among is not None:
            task = asyncio.get_running_loop().create_task(self._recheck_tokens())
            self._tasks.append(task)
            task.add_done_callback(self._tasks.remove)

    # --- internals ------------------------------------------------------------------------------

    def _deliver(self, push: OrderedPush) -> None:
        for event, data in push.events:
            self._tracker.to_users(push.audience, event, data, exclude=push.exclude)
        if push.on_delivered is not None:
            push.on_delivered()

    async def _recheck_tokens(self) -> None:
        """Logouts may have crossed the bus while it was away from this process."""
        connections = self._tracker.connections()
        try:
            revoked = await self._revoked_among(sorted({conn.token_id for conn in connections}))
        except Exception:  # noqa: BLE001 - the sweeper's expiry check still runs
            log.warning("could not re-check the tokens of open sockets", exc_info=True)
            return
        for token_id in revoked:
            self._tracker.close_token(token_id)

    async def _forget_silent_nodes(self) -> None:
        while True:
            await asyncio.sleep(self._node_timeout / 5)
            cutoff = time.monotonic() - self._node_timeout
            for node in [name for name, known in self._nodes.items() if known.heard < cutoff]:
                gone = self._nodes.pop(node).online
                log.warning("cluster node %s went silent; its %s users are offline unless held elsewhere", node, len(gone))
                for user_id in gone:
                    if not self.is_online(user_id):
                        # Every process notices on its own: each tells only its own sockets.
                        self._tracker.announce_later(user_id, online=False, local_only=True)
