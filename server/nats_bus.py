"""The cluster bus on core NATS (nats-py).

Each process publishes what it pushed once, to one subject every process subscribes to, and
delivers to its own sockets what the others published. What crosses the bus is only news:
the database stays the log, so a loss is repaired from it (the sequencer), never resent.

- Publishes leave in order from one task, several records per NATS message when they queue up
  (a burst costs one message, not one per push).
- Every `heartbeat_seconds` a process says it is alive (`hubbub.node`): its boot id, the users
  it holds sockets of, and the last seq of each conversation it committed to recently, so a
  lost last message of a burst is noticed within a heartbeat.
- While NATS is away nothing is published (others will repair from the database) and the
  process keeps serving its own sockets; when it is back, the process catches its sockets up
  from the database. A slow-consumer error from the client means messages were dropped: the
  same catch-up.

`delay_seconds` and `drop_every` hold back or drop this process's publishes; the testing
environment uses them to show that ordering and repair work (production refuses them)."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterable
from typing import Any

import nats
import orjson
from nats.errors import SlowConsumerError

from handlers.push import OrderedPush
from server.bus import BusReceiver

log = logging.getLogger(__name__)

PUSH_SUBJECT = "hubbub.push"
NODE_SUBJECT = "hubbub.node"
MAX_RECORDS_PER_MESSAGE = 512


def _close_record(token_id: str | None, user_id: int | None, keep_token: str | None = None) -> list:
    """Close a token's sockets, or all of a user's but those of token `keep_token` (a password
    change's caller), on every process (1008). Without one the record has its old three fields."""
    return ["x", token_id, user_id] if keep_token is None else ["x", token_id, user_id, keep_token]


async def publish_close_user(url: str, user_id: int, timeout_seconds: float = 5.0, *, token_id: str | None = None) -> None:
    """For a process outside the cluster (the admin CLI): tell every server to close the user's
    sockets (or only those of `token_id`, a token's or session's revocation key), over a
    connection of its own that lives only for this. Raises when NATS does not take it within
    `timeout_seconds`."""
    async def quiet(exc: Exception) -> None:
        pass  # the caller reports the failure once; nats-py would log every attempt's traceback

    # nats-py retries a first connection max_reconnect_attempts times even without reconnects.
    connecting = nats.connect(url, name="hubbub-admin", allow_reconnect=False, max_reconnect_attempts=1, connect_timeout=2, error_cb=quiet)
    nc = await asyncio.wait_for(connecting, timeout_seconds)
    try:
        record = _close_record(None, user_id) if token_id is None else _close_record(token_id, None)
        await nc.publish(PUSH_SUBJECT, orjson.dumps([record]))
        await nc.flush(timeout_seconds)
    finally:
        await nc.close()


class NatsBus:
    clustered = True

    def __init__(
        self,
        url: str,
        *,
        heartbeat_seconds: float = 2.0,
        delay_seconds: float = 0.0,
        drop_every: int = 0,
        pending_msgs_limit: int = 65536,
    ) -> None:
        """`pending_msgs_limit`: NATS messages received but not yet handled before the client
        drops the rest as a slow consumer (and this bus catches up from the database)."""
        self.url = url
        self._pending_msgs_limit = pending_msgs_limit
        self.node = uuid.uuid4().hex[:12]  # one per process start: the boot id as well
        self._heartbeat_seconds = heartbeat_seconds
        self._delay_seconds = delay_seconds
        self._drop_every = drop_every
        self._published = 0
        self._receiver: BusReceiver | None = None
        self._nc: nats.NATS | None = None
        self._outbox: deque[list] = deque()
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._down_since: float | None = time.time()  # not connected yet

    @property
    def connected(self) -> bool:
        """Connected and subscribed: what the others publish from now on reaches this process."""
        return self._down_since is None and self._nc is not None and self._nc.is_connected

    async def start(self, receiver: BusReceiver) -> None:
        """Connects in the background: a server starts, and serves its own sockets, while NATS
        is still away."""
        self._receiver = receiver
        self._tasks = [
            asyncio.create_task(self._connect_until_up(), name="nats-connect"),
            asyncio.create_task(self._publish_forever(), name="nats-publisher"),
            asyncio.create_task(self._heartbeat_forever(), name="nats-heartbeat"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._nc is not None and not self._nc.is_closed:
            try:
                await asyncio.wait_for(self._nc.flush(), 1)
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            await self._nc.close()

    # --- publishing -------------------------------------------------------------------------

    def publish_to_users(self, user_ids: Iterable[int], event: str, data: Any) -> None:
        self._queue(["u", list(user_ids), event, data])

    def publish_in_seq_order(self, push: OrderedPush) -> None:
        self._queue(["o", push.conversation_id, push.seq, list(push.audience), list(push.events)])

    def publish_presence(self, user_id: int, online: bool) -> None:
        self._queue(["p", self.node, user_id, online])

    def publish_close(self, *, token_id: str | None = None, user_id: int | None = None, keep_token: str | None = None) -> None:
        self._queue(_close_record(token_id, user_id, keep_token))

    def _queue(self, record: list) -> None:
        if self._down_since is not None:
            return  # the others repair from the database when the bus is back
        self._outbox.append(record)
        self._wakeup.set()

    async def _publish_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._outbox:
                records = [self._outbox.popleft() for _ in range(min(MAX_RECORDS_PER_MESSAGE, len(self._outbox)))]
                if self._delay_seconds:
                    await asyncio.sleep(self._delay_seconds)
                self._published += 1
                if self._drop_every and self._published % self._drop_every == 0:
                    continue
                try:
                    await self._nc.publish(PUSH_SUBJECT, orjson.dumps(records))
                except Exception:  # noqa: BLE001 - lost news is repaired from the database
                    log.warning("publishing %s records on NATS failed", len(records), exc_info=True)

    async def _heartbeat_forever(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_seconds)
            if not self.connected:
                continue
            online, recent = self._receiver.local_node_state()
            beat = {"node": self.node, "online": online, "seqs": [[cid, seq] for cid, seq in recent.items()]}
            try:
                await self._nc.publish(NODE_SUBJECT, orjson.dumps(beat))
            except Exception:  # noqa: BLE001 - the next beat goes
                log.debug("heartbeat not sent", exc_info=True)

    # --- receiving --------------------------------------------------------------------------

    async def _on_push(self, msg) -> None:
        receiver = self._receiver
        try:
            records = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            log.warning("unreadable message on %s ignored", PUSH_SUBJECT)
            return
        for record in records:
            try:
                kind = record[0]
                if kind == "o":
                    _, cid, seq, audience, events = record
                    receiver.remote_in_seq_order(OrderedPush(cid, seq, audience, tuple((e, d) for e, d in events)))
                elif kind == "u":
                    receiver.remote_to_users(record[1], record[2], record[3])
                elif kind == "p":
                    receiver.remote_presence(record[1], record[2], record[3])
                elif kind == "x":
                    receiver.remote_close(*record[1:4])  # a fourth field: the token a password change kept
                elif kind == "r":
                    receiver.bus_resumed(record[1])
            except Exception:  # noqa: BLE001 - one bad record must not cost the others
                log.exception("bus record %r could not be delivered", record[:3])

    async def _on_node(self, msg) -> None:
        try:
            beat = orjson.loads(msg.data)
            self._receiver.remote_node(beat["node"], beat["online"], {cid: seq for cid, seq in beat["seqs"]})
        except Exception:  # noqa: BLE001 - a bad beat is ignored
            log.warning("unreadable heartbeat ignored", exc_info=True)

    # --- the connection ---------------------------------------------------------------------

    async def _connect_until_up(self) -> None:
        while True:
            try:
                self._nc = await nats.connect(
                    self.url,
                    name=f"hubbub-{self.node}",
                    no_echo=True,  # this process delivers its own pushes directly
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    disconnected_cb=self._disconnected,
                    reconnected_cb=self._reconnected,
                    error_cb=self._error,
                )
                break
            except Exception:  # noqa: BLE001 - NATS is not there yet: keep trying
                log.warning("NATS at %s does not answer; retrying", self.url)
                await asyncio.sleep(1)
        await self._nc.subscribe(PUSH_SUBJECT, cb=self._on_push, pending_msgs_limit=self._pending_msgs_limit, pending_bytes_limit=256 * 1024 * 1024)
        await self._nc.subscribe(NODE_SUBJECT, cb=self._on_node)
        await self._nc.flush()
        log.info("cluster bus connected to %s as node %s", self.url, self.node)
        self._resumed()

    def _resumed(self) -> None:
        """Catch up on what the others published meanwhile, and tell them to catch up on what
        this process did not publish (the bus may have been away from it alone)."""
        since = self._down_since
        self._down_since = None
        if since is not None:
            self._queue(["r", since])
            self._receiver.bus_resumed(since)

    async def _disconnected(self) -> None:
        if self._down_since is None:
            self._down_since = time.time()
            self._outbox.clear()
            log.warning("cluster bus disconnected; serving local sockets only until it is back")

    async def _reconnected(self) -> None:
        log.info("cluster bus reconnected")
        self._resumed()

    async def _error(self, exc: Exception) -> None:
        if isinstance(exc, SlowConsumerError):
            log.warning("cluster bus: this process read too slowly and NATS dropped messages; catching up")
            self._receiver.bus_resumed(time.time() - 60)
        else:
            log.warning("cluster bus: %s", exc)
