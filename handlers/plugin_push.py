"""The pushes of a plugin carry its prefix (PLUGINS.md §2), at run time as at startup.

Startup checks the events a plugin declares (`Handler.events`, handlers.naming); nothing
obliges a plugin to declare what it pushes. So while a plugin's code runs (a handler, a
lifecycle subscriber, a REST route: `PluginEvents.calling`), every event pushed is checked
before it leaves (`check_push`, called by the server's pusher and socket): the plugin's own
`<prefix>.<name>`, one of the server's own events (PROTOCOL.md §4: not a new name; a plugin
that replaces a built-in pushes its events, and the services a plugin calls push theirs), or a
name the settings accept (`plugin_names_unprefixed`). Any other, such as `message.pinned` or
another plugin's `polls.voted`, raises NamingError in the plugin's call, which fails as any
fault of the plugin does (a 500 logged with its name), and reaches nobody."""

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from handlers.events import EVENTS
from handlers.naming import NamingError

# The plugin whose code runs in this task, and what it may push; None in the server's own code.
_calling: ContextVar[tuple[str, "PluginEvents"] | None] = ContextVar("hubbub_calling_plugin", default=None)


class PluginEvents:
    """Which event names each plugin may push."""

    def __init__(self, prefixes: Mapping[str, str] | None = None, unprefixed: Iterable[str] = ()) -> None:
        self._prefixes = dict(prefixes or {})  # distribution → its prefix (handlers.naming.check_plugin_names)
        self._allowed = frozenset(EVENTS) | frozenset(unprefixed)

    def check(self, origin: str, event: str) -> None:
        if event in self._allowed:
            return
        prefix = self._prefixes.get(origin)
        if prefix is not None and event.startswith(f"{prefix}.") and len(event) > len(prefix) + 1:
            return
        own = f"the plugin's prefix {prefix!r}, as in '{prefix}.changed'" if prefix is not None else "the plugin's prefix"
        raise NamingError(f"event {event!r} pushed by {origin} does not carry {own} (or list it in plugin_names_unprefixed)")

    @contextmanager
    def calling(self, origin: str) -> Iterator[None]:
        """The code run inside is the plugin `origin`'s (tasks started inside inherit it)."""
        token = _calling.set((origin, self))
        try:
            yield
        finally:
            _calling.reset(token)


def check_push(event: str) -> None:
    """NamingError when the plugin whose code runs may not push `event`."""
    calling = _calling.get()
    if calling is not None:
        origin, events = calling
        events.check(origin, event)
