"""The handler API: what a socket frame type is made of. Built-in handlers and plugins are
written the same way: a subclass of `Handler` with a `type`, a marshmallow `schema` for the
frame's `data`, and an async `handle` that returns the reply's data (or a `Reply` to choose
its code) or raises a `handlers.errors.HubbubError`. PLUGINS.md is the guide."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from marshmallow import EXCLUDE, Schema
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.push import Pusher, Socket
from handlers.services import Services
from settings import Settings


class EmptySchema(Schema):
    class Meta:
        unknown = EXCLUDE


class Reply(NamedTuple):
    """A reply with a code other than 200, e.g. 201 for a stored message. A tuple, which is
    quicker to build than a frozen dataclass (one per message sent)."""

    data: Any
    code: int = 200


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a handler may use. One per socket, made when it opens.

    `db` is the storage engine: `async with ctx.db.begin() as conn` is one transaction.
    `services` are the server's own rules (what built-ins call); `push` reaches open sockets."""

    user_id: int
    socket: Socket
    services: Services
    push: Pusher
    db: AsyncEngine
    settings: Settings
    logger: logging.Logger

    def push_to_users(self, user_ids: Iterable[int], event: str, data: Any) -> None:
        """`{"type": event, "data": data}` to every open socket of these users."""
        self.push.to_users(user_ids, event, data)

    async def push_to_conversation(self, conversation_id: int, event: str, data: Any, *, skip_own_socket: bool = False) -> None:
        """To every socket of every member; the calling socket too unless `skip_own_socket`."""
        members = await self.services.conversations.member_ids_of(self.user_id, conversation_id)
        self.push.to_users(members, event, data, exclude=self.socket if skip_own_socket else None)

    async def require_member(self, conversation_id: int) -> dict:
        """The ConversationVO as the caller sees it; NotFound (404) when not a member."""
        return await self.services.conversations.get(self.user_id, conversation_id)

    async def message(self, message_id: int) -> dict:
        """The MessageVO of a message in one of the caller's conversations; else NotFound."""
        return await self.services.messaging.visible_message(self.user_id, message_id)


class Handler:
    type: ClassVar[str]
    schema: ClassVar[type[Schema]] = EmptySchema
    # What the reply's `data` holds, for the AsyncAPI document (/api/asyncapi.json): a schema,
    # or the name of a contract object ("MessageVO", "[MessageVO]" for a list, "null"); None
    # leaves it undescribed (any JSON).
    reply: ClassVar[type[Schema] | str | None] = None
    # The events the handler pushes that the server does not (handlers.events has the server's):
    # name → schema of their `data`, for the same document.
    events: ClassVar[dict[str, type[Schema]]] = {}

    async def handle(self, ctx: Context, data: dict) -> Any:
        raise NotImplementedError
