"""What services and handlers need from the connection tracker: pushing events to users'
sockets and asking who is online. The server's tracker implements it."""

from collections.abc import Iterable
from typing import Any, Protocol


class Socket(Protocol):
    """One open socket, as handlers see it."""

    user_id: int

    def push(self, event: str, data: Any) -> None: ...


class Pusher(Protocol):
    def to_users(self, user_ids: Iterable[int], event: str, data: Any, *, exclude: Socket | None = None) -> None:
        """Send `{"type": event, "data": data}` to every open socket of `user_ids` but `exclude`.
        The event is serialized once whatever the number of sockets."""

    def is_online(self, user_id: int) -> bool: ...
