"""Delivery: every push of the services reaches this process's sockets (through the connection
tracker) and the other processes (through the bus), and committed messages reach every socket
in their conversation's seq order (through the sequencer). Implements `handlers.push.Pusher`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from handlers.push import OrderedPush, Socket
from server.bus import Bus
from server.sequencer import Backfill, Sequencer
from server.tracker import ConnectionTracker


class Delivery:
    def __init__(self, tracker: ConnectionTracker, bus: Bus) -> None:
        self._tracker = tracker
        self._bus = bus
        self._sequencer: Sequencer | None = None

    @property
    def sequencer(self) -> Sequencer:
        assert self._sequencer is not None, "Delivery.start() has not run"
        return self._sequencer

    async def start(self, backfill: Backfill) -> None:
        self._sequencer = Sequencer(self._deliver, backfill)
        await self._bus.start(self)

    async def close(self) -> None:
        await self._bus.close()
        if self._sequencer is not None:
            await self._sequencer.close()

    # --- handlers.push.Pusher ----------------------------------------------------------------

    def to_users(self, user_ids: Iterable[int], event: str, data: Any, *, exclude: Socket | None = None) -> None:
        user_ids = user_ids if isinstance(user_ids, list) else list(user_ids)
        self._tracker.to_users(user_ids, event, data, exclude=exclude)
        self._bus.publish_to_users(user_ids, event, data)

    def in_seq_order(self, push: OrderedPush) -> None:
        self._bus.publish_in_seq_order(push)
        self.sequencer.accept(push)

    def is_online(self, user_id: int) -> bool:
        return self._tracker.is_online(user_id)

    # --- server.bus.BusReceiver --------------------------------------------------------------

    def remote_to_users(self, user_ids: list[int], event: str, data: Any) -> None:
        self._tracker.to_users(user_ids, event, data)

    def remote_in_seq_order(self, push: OrderedPush) -> None:
        self.sequencer.accept(push)

    def _deliver(self, push: OrderedPush) -> None:
        for event, data in push.events:
            self._tracker.to_users(push.audience, event, data, exclude=push.exclude)
        if push.on_delivered is not None:
            push.on_delivered()
