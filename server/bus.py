"""The bus: how one process tells the others what it pushed.

Every push is delivered to this process's own sockets directly and published once for the
other processes, which deliver it to theirs (`server.delivery.Delivery` on both ends). The
in-process bus is for a server that runs alone: there is nobody else to tell. The cluster bus
is `server.nats_bus.NatsBus`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from handlers.push import OrderedPush


class BusReceiver(Protocol):
    """What a bus hands the news of other processes to (the server's `Delivery`)."""

    def remote_to_users(self, user_ids: list[int], event: str, data: Any) -> None: ...

    def remote_in_seq_order(self, push: OrderedPush) -> None: ...

    def remote_presence(self, node: str, user_id: int, online: bool) -> None: ...

    def remote_close(self, token_id: str | None, user_id: int | None, keep_token: str | None = None) -> None: ...

    def remote_node(self, node: str, online: list[int], recent_seqs: dict[int, int]) -> None:
        """A heartbeat: the node's users online and the last seqs it committed recently."""

    def local_node_state(self) -> tuple[list[int], dict[int, int]]:
        """(users with a socket here, {conversation_id: last seq committed here recently})."""

    def bus_resumed(self, missed_since: float) -> None:
        """News may have been lost since `missed_since` (a time.time()): catch up from the database."""


class Bus(Protocol):
    clustered: bool

    async def start(self, receiver: BusReceiver) -> None: ...

    def publish_to_users(self, user_ids: Iterable[int], event: str, data: Any) -> None: ...

    def publish_in_seq_order(self, push: OrderedPush) -> None: ...

    def publish_presence(self, user_id: int, online: bool) -> None: ...

    def publish_close(self, *, token_id: str | None = None, user_id: int | None = None, keep_token: str | None = None) -> None: ...

    async def close(self) -> None: ...


class LocalBus:
    """One process: its own sockets are all there is."""

    clustered = False

    async def start(self, receiver: BusReceiver) -> None:
        pass

    def publish_to_users(self, user_ids: Iterable[int], event: str, data: Any) -> None:
        pass

    def publish_in_seq_order(self, push: OrderedPush) -> None:
        pass

    def publish_presence(self, user_id: int, online: bool) -> None:
        pass

    def publish_close(self, *, token_id: str | None = None, user_id: int | None = None, keep_token: str | None = None) -> None:
        pass

    async def close(self) -> None:
        pass
