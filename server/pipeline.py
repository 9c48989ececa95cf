"""The one path every client frame takes: decode → envelope check → rate limit → registry
lookup → schema load → handler → reply. It always produces exactly one reply and never raises,
so the socket stays open whatever the frame held."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any

from aiohttp import WSMsgType
from handlers.base import Context, Reply
from handlers.errors import BadRequest, HubbubError, RateLimited, TimedOut
from handlers.metrics import FRAMES, PLUGIN_CALLS
from handlers.plugin_push import PluginEvents
from handlers.registry import HandlerRegistry, Registered
from server.errors import as_client_error
from server.json import JSONDecodeError, dumps_bytes, loads
from server.rate_limit import TokenBucket

log = logging.getLogger(__name__)


def reply_frame(frame_id: Any, code: int, message: str, data: Any) -> bytes:
    return dumps_bytes({"type": "reply", "id": frame_id, "code": code, "message": message, "data": data})


def error_frame(frame_id: Any, error: HubbubError) -> bytes:
    return reply_frame(frame_id, error.code, error.message, error.data)


class FramePipeline:
    def __init__(self, registry: HandlerRegistry, plugin_timeout_seconds: float, plugin_events: PluginEvents | None = None) -> None:
        self._registry = registry
        self._plugin_timeout = plugin_timeout_seconds
        self._plugin_events = plugin_events if plugin_events is not None else PluginEvents()
        self._plugin_loggers: dict[str, logging.Logger] = {}

    async def process(self, ctx: Context, bucket: TokenBucket, msg_type: WSMsgType, payload: Any) -> bytes:
        """The serialized reply (JSON bytes) to one frame."""
        frame_id = type_name = registered = None
        # Every frame takes a token, unreadable ones included: the limit is on frames, and a
        # client flooding garbage must not get around it.
        # Over the limit, the reply is 429 whatever the frame held, with its id when readable.
        wait = bucket.take()
        try:
            try:
                if msg_type != WSMsgType.TEXT:
                    raise BadRequest("frames must be text holding one JSON object")
                frame = _decode(payload)
                frame_id = _frame_id(frame)
            except BadRequest:
                if wait:
                    raise RateLimited(wait, "rate limit exceeded, slow down") from None
                raise
            if wait:
                raise RateLimited(wait, "rate limit exceeded, slow down")
            type_name = frame.get("type")
            registered = self._resolve(type_name)
            data = frame.get("data", {})
            if not isinstance(data, dict):
                raise BadRequest("data must be an object")
            result = await self._run(registered, ctx, registered.schema.load(data))
            if isinstance(result, Reply):
                reply = reply_frame(frame_id, result.code, "ok", result.data)
                FRAMES(type_name, result.code).inc()
                return reply
            # Serialized here, inside the try: a handler's data that is not JSON is its fault (500).
            reply = reply_frame(frame_id, 200, "ok", result)
            FRAMES(type_name, 200).inc()
            return reply
        except Exception as exc:  # noqa: BLE001 - every failure becomes a reply, the socket lives on
            origin = f" from {registered.origin}" if registered is not None else ""
            plugin = registered.origin if registered is not None and not registered.builtin else None
            error = as_client_error(exc, f"frame {type_name!r}{origin} of user {ctx.user_id}", plugin)
            # Unregistered names are the client's to choose: one label for all of them.
            FRAMES(type_name if registered is not None else "invalid", error.code).inc()
            try:
                return error_frame(frame_id, error)
            except TypeError:  # an error whose data is not JSON (a plugin's): a fault of its own
                log.exception("frame %r of user %s: error data is not JSON", type_name, ctx.user_id)
                return error_frame(frame_id, HubbubError())

    def _plugin_logger(self, origin: str) -> logging.Logger:
        """`ctx.logger` of a plugin's handler: named after its distribution, so every line it
        logs says which plugin (PLUGINS.md)."""
        logger = self._plugin_loggers.get(origin)
        if logger is None:
            logger = self._plugin_loggers[origin] = logging.getLogger(f"hubbub.plugins.{origin}")
        return logger

    def _resolve(self, type_name: Any) -> Registered:
        if not isinstance(type_name, str):
            raise BadRequest("type must be a string")
        registered = self._registry.get(type_name)
        if registered is None:
            raise BadRequest(f"unknown type {type_name[:64]!r}")
        return registered

    async def _run(self, registered: Registered, ctx: Context, data: dict) -> Any:
        """Built-ins run to the end (a send cut off mid-commit would leave the client unsure);
        a plugin gets `plugin_timeout_seconds`."""
        if registered.builtin:
            return await registered.handler.handle(ctx, data)
        ctx = replace(ctx, logger=self._plugin_logger(registered.origin))
        try:
            with self._plugin_events.calling(registered.origin):  # what it pushes carries its prefix
                result = await asyncio.wait_for(registered.handler.handle(ctx, data), self._plugin_timeout)
        except TimeoutError:
            PLUGIN_CALLS(registered.origin, "handler", registered.handler.type, "timeout").inc()
            log.error("handler %r from %s timed out after %ss", registered.handler.type, registered.origin, self._plugin_timeout, extra={"plugin": registered.origin})
            raise TimedOut() from None
        except HubbubError:
            PLUGIN_CALLS(registered.origin, "handler", registered.handler.type, "refused").inc()
            raise
        except Exception:
            PLUGIN_CALLS(registered.origin, "handler", registered.handler.type, "error").inc()
            raise
        PLUGIN_CALLS(registered.origin, "handler", registered.handler.type, "ok").inc()
        return result


def _decode(payload: str) -> dict:
    try:
        frame = loads(payload)
    except JSONDecodeError:
        raise BadRequest("frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise BadRequest("frame must be a JSON object")
    return frame


def _frame_id(frame: dict) -> Any:
    frame_id = frame.get("id")
    if frame_id is None or isinstance(frame_id, str) or (isinstance(frame_id, int) and not isinstance(frame_id, bool)):
        return frame_id
    raise BadRequest("id must be a string or an integer")
