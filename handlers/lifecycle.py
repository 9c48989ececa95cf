"""Lifecycle events for plugins: what happened, told after it committed.

A plugin subscribes with a `Subscriber` (entry point group `hubbub.subscribers`, named by the
plugin's prefix). The services call `Lifecycle.emit` once per event, after the transaction
that made it has committed and after its pushes went out. Each subscriber runs as a task of
its own: it never delays a reply or a push, it is cut off after `plugin_timeout_seconds`, and
whatever it raises is logged under the plugin's name and goes no further. The server keeps
the tasks and lets them finish (or cancels them) when it stops."""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.metrics import PLUGIN_CALLS
from handlers.plugin_entry_points import load_enabled
from handlers.plugin_push import PluginEvents
from handlers.push import Pusher
from settings import Settings

ENTRY_POINT_GROUP = "hubbub.subscribers"
log = logging.getLogger(__name__)

# The events and their payloads (plain dicts, PLUGINS.md §5).
MESSAGE_STORED = "message.stored"  # the MessageVO as stored
MESSAGE_EDITED = "message.edited"  # the MessageVO after the edit
MESSAGE_RECALLED = "message.recalled"  # {conversation_id, message_id, seq, change_seq, sender_id, recalled_by}
CONVERSATION_CREATED = "conversation.created"  # {conversation_id, type: "direct"|"group", member_ids}
CONVERSATION_UPDATED = "conversation.updated"  # {conversation_id, changes: {field: new value}}
CONVERSATION_DELETED = "conversation.deleted"  # {conversation_id, member_ids}: the members it had
MEMBER_ADDED = "member.added"  # {conversation_id, user_id}
MEMBER_REMOVED = "member.removed"  # {conversation_id, user_id}
# {conversation_id, user_id, old_role, new_role, actor_id}: the owner made a member an admin or an
# admin a member. A handover is told by CONVERSATION_OWNER_CHANGED alone, not as role changes.
MEMBER_ROLE_CHANGED = "member.role_changed"
# {conversation_id, old_owner_id, new_owner_id, old_owner_role, actor_id}: the owner handed the
# group over (old owner now "admin", actor_id the old owner), or a deleted account's group passed
# on (old owner now "member", actor_id None).
CONVERSATION_OWNER_CHANGED = "conversation.owner_changed"
# {user_id, changes: {field: new value}}: the user changed their nickname or avatar.
USER_UPDATED = "user.updated"
# {user_id}: the user deleted their account (disabled, anonymised, its groups handed over).
USER_DELETED = "user.deleted"
USER_CONNECTED = "user.connected"  # {user_id}: the user's first socket on this process
USER_DISCONNECTED = "user.disconnected"  # {user_id}: the user's last socket on this process closed

LIFECYCLE_EVENTS = (
    MESSAGE_STORED,
    MESSAGE_EDITED,
    MESSAGE_RECALLED,
    CONVERSATION_CREATED,
    CONVERSATION_UPDATED,
    CONVERSATION_DELETED,
    MEMBER_ADDED,
    MEMBER_REMOVED,
    MEMBER_ROLE_CHANGED,
    CONVERSATION_OWNER_CHANGED,
    USER_UPDATED,
    USER_DELETED,
    USER_CONNECTED,
    USER_DISCONNECTED,
)


@dataclass(frozen=True, slots=True)
class LifecycleContext:
    """What a subscriber may use: the server's rules, pushing, the database, the settings, and
    a logger named `hubbub.plugins.<distribution>`."""

    services: Any  # handlers.services.Services (not imported: the services import this module)
    push: Pusher
    db: AsyncEngine
    settings: Settings
    logger: logging.Logger


Callback = Callable[[LifecycleContext, dict], Awaitable[None]]


class Subscriber:
    """A plugin's callbacks by event: `subscriber = Subscriber()`, then
    `@subscriber.on(MESSAGE_RECALLED) async def forget(ctx, event): ...`."""

    def __init__(self) -> None:
        self.callbacks: dict[str, list[Callback]] = {}

    def on(self, event: str) -> Callable[[Callback], Callback]:
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"no lifecycle event {event!r}; there are {', '.join(LIFECYCLE_EVENTS)}")

        def register(callback: Callback) -> Callback:
            self.callbacks.setdefault(event, []).append(callback)
            return callback

        return register


class SubscriberError(Exception):
    """A subscriber cannot be loaded; the message names it and its distribution."""


@dataclass(frozen=True, slots=True)
class NamedSubscriber:
    name: str  # the entry point's name: the plugin's prefix
    origin: str
    subscriber: Subscriber


class Lifecycle:
    """Runs the subscribers of each event as tracked background tasks."""

    def __init__(self, subscribers: Iterable[NamedSubscriber] = (), timeout_seconds: float = 10.0) -> None:
        self.subscribers = tuple(subscribers)
        self._timeout = timeout_seconds
        self._by_event: dict[str, list[tuple[NamedSubscriber, Callback]]] = {}
        for named in self.subscribers:
            for event, callbacks in named.subscriber.callbacks.items():
                self._by_event.setdefault(event, []).extend((named, callback) for callback in callbacks)
        self._contexts: dict[str, LifecycleContext] = {}
        self._events = PluginEvents()
        self._tasks: set[asyncio.Task] = set()
        self._closed = False

    def start(self, services: Any, push: Pusher, db: AsyncEngine, settings: Settings, events: PluginEvents | None = None) -> None:
        """`events` checks the names of what each plugin pushes (handlers.plugin_push)."""
        self._events = events if events is not None else PluginEvents()
        self._contexts = {
            named.origin: LifecycleContext(services, push, db, settings, logging.getLogger(f"hubbub.plugins.{named.origin}")) for named in self.subscribers
        }

    def emit(self, event: str, payload: dict) -> None:
        """Called once per event, after the commit; returns at once."""
        targets = self._by_event.get(event)
        if not targets or self._closed or not self._contexts:
            return
        for named, callback in targets:
            task = asyncio.create_task(self._run(named, callback, event, payload), name=f"lifecycle-{named.name}-{event}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, named: NamedSubscriber, callback: Callback, event: str, payload: dict) -> None:
        try:
            with self._events.calling(named.origin):  # what it pushes carries its prefix
                await asyncio.wait_for(callback(self._contexts[named.origin], payload), self._timeout)
        except TimeoutError:
            PLUGIN_CALLS(named.origin, "subscriber", event, "timeout").inc()
            log.error("lifecycle subscriber %s of %s from %s timed out after %ss", callback.__qualname__, event, named.origin, self._timeout, extra={"plugin": named.origin})
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a plugin's fault stays its own
            PLUGIN_CALLS(named.origin, "subscriber", event, "error").inc()
            log.exception("lifecycle subscriber %s of %s from %s failed", callback.__qualname__, event, named.origin, extra={"plugin": named.origin})
        else:
            PLUGIN_CALLS(named.origin, "subscriber", event, "ok").inc()

    async def close(self, wait_seconds: float) -> None:
        """No new events; the running subscribers get `wait_seconds` to finish, then are cancelled."""
        self._closed = True
        pending = set(self._tasks)
        if pending:
            _, late = await asyncio.wait(pending, timeout=wait_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)


def load_subscribers(settings: Settings, points: Iterable[EntryPoint] | None = None) -> list[NamedSubscriber]:
    """The subscribers the settings ask for (`plugins_autoload`, `plugins_enabled`), in name order."""
    points = entry_points(group=ENTRY_POINT_GROUP) if points is None else points
    loaded = []
    for entry in load_enabled(points, settings, kind="lifecycle subscriber", error=SubscriberError):
        if not isinstance(entry.value, Subscriber):
            raise SubscriberError(f"lifecycle subscriber {entry.name!r} from {entry.origin} is not a handlers.api.Subscriber")
        loaded.append(NamedSubscriber(entry.name, entry.origin, entry.value))
    return loaded
