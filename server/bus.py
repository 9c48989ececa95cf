"""The bus: how one process tells the others what it pushed.

Every push is delivered to this process's own sockets directly and published once for the
other processes, which deliver it to theirs (`Delivery`). The in-process bus is for a server
that runs alone: there is nobody else to tell."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from handlers.push import OrderedPush


class BusReceiver(Protocol):
    """What a bus hands the pushes of other processes to (the server's `Delivery`)."""

    def remote_to_users(self, user_ids: list[int], event: str, data: Any) -> None: ...

    def remote_in_seq_order(self, push: OrderedPush) -> None: ...


class Bus(Protocol):
    async def start(self, receiver: BusReceiver) -> None: ...

    def publish_to_users(self, user_ids: Iterable[int], event: str, data: Any) -> None: ...

    def publish_in_seq_order(self, push: OrderedPush) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    """One process: its own sockets are all there is."""

    async def start(self, receiver: BusReceiver) -> None:
        pass

    def publish_to_users(self, user_ids: Iterable[int], event: str, data: Any) -> None:
        pass

    def publish_in_seq_order(self, push: OrderedPush) -> None:
        pass

    async def close(self) -> None:
        pass
