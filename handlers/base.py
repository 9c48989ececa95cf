"""The handler API: what a socket frame type is made of. Built-in handlers and plugins are
written the same way: a subclass of `Handler` with a `type`, a marshmallow `schema` for the
frame's `data`, and an async `handle` that returns the reply's data (or a `Reply` to choose
its code) or raises a `handlers.errors.HubbubError`."""

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from marshmallow import EXCLUDE, Schema
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.push import Pusher, Socket
from handlers.services import Services
from settings import Settings


class EmptySchema(Schema):
    class Meta:
        unknown = EXCLUDE


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply with a code other than 200, e.g. 201 for a stored message."""

    data: Any
    code: int = 200


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a handler may use. One per socket, made when it opens."""

    user_id: int
    socket: Socket
    services: Services
    push: Pusher
    db: AsyncEngine
    settings: Settings
    logger: logging.Logger


class Handler:
    type: ClassVar[str]
    schema: ClassVar[type[Schema]] = EmptySchema

    async def handle(self, ctx: Context, data: dict) -> Any:
        raise NotImplementedError
