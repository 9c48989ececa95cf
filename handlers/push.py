"""What services and handlers need from the server's delivery: pushing events to users'
sockets, pushing a conversation's committed messages in seq order, and asking who is online.
The server's `server.delivery.Delivery` implements it."""

from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, Protocol


class Socket(Protocol):
    """One open socket, as handlers see it."""

    user_id: int

    def push(self, event: str, data: Any) -> None: ...


class OrderedPush(NamedTuple):
    """The events of one committed message, delivered to every socket after those of the
    conversation's lower seqs and before its higher ones."""

    conversation_id: int
    seq: int
    audience: Sequence[int]
    # (event, data) pairs: `message.new` first, then what the message caused (`message.read`).
    events: tuple[tuple[str, Any], ...]
    # The socket that sent it: it hears its reply, not the push.
    exclude: Socket | None = None
    # Called once every socket of this process has been handed the events (the sender's
    # reply waits for it, so its own catch-up cursor never runs ahead of what it was pushed).
    on_delivered: Callable[[], None] | None = None


class Pusher(Protocol):
    def to_users(self, user_ids: Iterable[int], event: str, data: Any, *, exclude: Socket | None = None) -> None:
        """Send `{"type": event, "data": data}` to every open socket of `user_ids` but `exclude`.
        The event is serialized once whatever the number of sockets."""

    def in_seq_order(self, push: OrderedPush) -> None:
        """Deliver a committed message's events in the conversation's seq order, whichever
        transaction or process committed the seqs around it."""

    def recheck(self, conversation_ids: Iterable[int]) -> None:
        """Messages of these conversations may have been committed without news of them (a
        batch whose answer never came): once the database answers, deliver what was committed
        and not yet delivered, in seq order."""

    def is_online(self, user_id: int) -> bool: ...
