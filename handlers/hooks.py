"""Pre-send hooks: plugin callables that see every message before it is stored, on the socket
and REST send paths alike. A hook returns the content to store (the same or rewritten) or
raises `MessageRejected`. Hooks are found in the entry point group `hubbub.hooks` and run in
name order."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from importlib.metadata import EntryPoint, entry_points

from handlers.errors import FORBIDDEN, UNPROCESSABLE, HubbubError, TimedOut
from handlers.metrics import PLUGIN_CALLS
from handlers.plugin_entry_points import load_enabled
from settings import Settings

ENTRY_POINT_GROUP = "hubbub.hooks"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """What a hook sees. `conversation_id` is None for a first direct message to `receiver_id`."""

    sender_id: int
    conversation_id: int | None
    receiver_id: int | None
    content: str
    msg_type: int


Hook = Callable[[OutgoingMessage], Awaitable[str | None]]


class MessageRejected(HubbubError):
    """Raised by a hook to refuse a message: 422 (the content) by default, or 403 (the sender)."""

    code = UNPROCESSABLE
    default_message = "message rejected"

    def __init__(self, reason: str, code: int = UNPROCESSABLE) -> None:
        if code not in (UNPROCESSABLE, FORBIDDEN):
            raise ValueError("a hook rejects with 422 or 403")
        super().__init__(reason, {"errors": {"content": [reason]}} if code == UNPROCESSABLE else None)
        self.code = code


class HookError(Exception):
    """A hook cannot be loaded; the message names it and its distribution."""


@dataclass(frozen=True, slots=True)
class NamedHook:
    name: str
    origin: str
    run: Hook


class PreSendHooks:
    """The loaded hooks, applied in order with a per-call timeout."""

    def __init__(self, hooks: Iterable[NamedHook] = (), timeout_seconds: float = 10.0) -> None:
        self.hooks = tuple(hooks)
        self._timeout = timeout_seconds

    async def apply(self, message: OutgoingMessage) -> OutgoingMessage:
        for hook in self.hooks:
            try:
                result = await asyncio.wait_for(hook.run(message), self._timeout)
            except HubbubError:
                PLUGIN_CALLS(hook.origin, "hook", hook.name, "refused").inc()
                raise
            except TimeoutError:
                PLUGIN_CALLS(hook.origin, "hook", hook.name, "timeout").inc()
                log.error("message hook %s from %s timed out after %ss", hook.name, hook.origin, self._timeout, extra={"plugin": hook.origin})
                raise TimedOut("a message hook did not answer in time") from None
            except Exception as exc:
                PLUGIN_CALLS(hook.origin, "hook", hook.name, "error").inc()
                log.exception("message hook %s from %s failed", hook.name, hook.origin, extra={"plugin": hook.origin})
                raise HubbubError() from exc
            if result is not None:
                if not isinstance(result, str) or not result:
                    PLUGIN_CALLS(hook.origin, "hook", hook.name, "error").inc()
                    log.error("message hook %s from %s returned %r, not a non-empty string", hook.name, hook.origin, type(result), extra={"plugin": hook.origin})
                    raise HubbubError()
                message = replace(message, content=result)
            PLUGIN_CALLS(hook.origin, "hook", hook.name, "ok").inc()
        return message


def load_hooks(settings: Settings, points: Iterable[EntryPoint] | None = None) -> list[NamedHook]:
    """The hooks the settings ask for (`hooks_disabled`, `plugins_autoload`, `plugins_enabled`),
    in name order."""
    points = entry_points(group=ENTRY_POINT_GROUP) if points is None else points
    hooks = []
    for entry in load_enabled(points, settings, kind="message hook", error=HookError, disabled=settings.hooks_disabled):
        if not callable(entry.value):
            raise HookError(f"message hook {entry.name!r} from {entry.origin} is not callable")
        hooks.append(NamedHook(entry.name, entry.origin, entry.value))
    return hooks
