"""Whose names are whose. A plugin's frame types, the events it declares and the names of its
entry points (subscribers, REST routes, migrations) all carry one prefix, the plugin's name
(`pins.pin`, `pins.changed`, `/api/plugins/pins/...`): so two plugins, or a plugin and the
server, can never answer to one name. Checked once at startup; a breach stops it, naming the
distribution. `plugin_names_unprefixed` lets a deployment accept given names as they are."""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from handlers.events import EVENTS

# A prefix names a version table (alembic_version_<prefix>) and a path segment (/api/plugins/<prefix>).
PREFIX = re.compile(r"[a-z][a-z0-9_]*\Z")
# Names the server's own frames and events use, and what it may use next.
RESERVED_PREFIXES = frozenset({"reply", "error", "hubbub", "server", "api", "user", "users", "socket", *(name.split(".")[0] for name in EVENTS)})


class NamingError(Exception):
    """A plugin uses a name that is not its own; the message names the plugin and the name."""


@dataclass(frozen=True, slots=True)
class PluginName:
    """One name a plugin declares: `kind` says what it names, for the message."""

    origin: str
    kind: str  # "frame type", "event", "subscriber", "route", "migration"
    name: str


def prefix_of(name: str) -> str:
    return name.split(".", 1)[0]


def check_plugin_names(names: Iterable[PluginName], builtin_names: Iterable[str], *, unprefixed: Iterable[str] = (), overridden: Iterable[str] = ()) -> dict[str, str]:
    """Plugin (distribution) → its prefix; NamingError at the first name that is not the
    plugin's own. Frame types and events are `<prefix>.<name>`; entry points of subscribers,
    routes and migrations are named by the bare prefix."""
    reserved = RESERVED_PREFIXES | {prefix_of(name) for name in builtin_names}
    allowed = frozenset(unprefixed)
    overridable = frozenset(overridden)
    prefixes: dict[str, str] = {}
    owners: dict[str, str] = {}
    for item in names:
        if item.name in allowed or (item.kind == "frame type" and item.name in overridable):
            continue
        prefix, dot, rest = item.name.partition(".")
        if item.kind in ("frame type", "event") and not (dot and rest):
            raise NamingError(f"{item.kind} {item.name!r} from {item.origin} needs the plugin's prefix, as in 'pins.{item.name}' (or list it in plugin_names_unprefixed)")
        if item.kind not in ("frame type", "event") and dot:
            raise NamingError(f"{item.kind} entry point {item.name!r} from {item.origin} must be named by the plugin's prefix alone, as in {prefix!r}")
        if not PREFIX.match(prefix):
            raise NamingError(f"{item.kind} {item.name!r} from {item.origin}: the prefix {prefix!r} must be lower-case letters, digits and _ ([a-z][a-z0-9_]*)")
        if prefix in reserved:
            raise NamingError(f"{item.kind} {item.name!r} from {item.origin} uses the server's own prefix {prefix!r}; choose the plugin's own")
        own = prefixes.setdefault(item.origin, prefix)
        if own != prefix:
            raise NamingError(f"{item.kind} {item.name!r} from {item.origin} does not carry the plugin's prefix {own!r} (one plugin, one prefix)")
        owner = owners.setdefault(prefix, item.origin)
        if owner != item.origin:
            raise NamingError(f"{item.kind} {item.name!r} from {item.origin} uses the prefix {prefix!r} of {owner}")
    return prefixes
