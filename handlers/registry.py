"""Finding handler classes. Built-ins and plugins alike are declared in the entry point group
`hubbub.handlers` (name = frame type, value = `module:Class`). The registry loads them in name
order, built-ins first, so startup is deterministic; what is loaded follows the settings
(PLUGINS.md): `handlers_disabled`, `plugins_autoload`, `plugins_enabled`, `handlers_override`."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from marshmallow import Schema

from handlers.base import Handler
from handlers.naming import PluginName
from handlers.plugin_entry_points import origin_of
from settings import Settings

ENTRY_POINT_GROUP = "hubbub.handlers"
BUILTIN_ORIGIN = "hubbub"
TYPE_NAME = re.compile(r"[a-z][a-z0-9_.]*\Z")


class RegistryError(Exception):
    """A handler cannot be registered; the message names it and where it came from."""


@dataclass(frozen=True, slots=True)
class Registered:
    handler: Handler
    schema: Schema
    origin: str  # the distribution that declared it, or "direct"

    @property
    def builtin(self) -> bool:
        return self.origin == BUILTIN_ORIGIN


class HandlerRegistry:
    def __init__(self, overridable: Iterable[str] = ()) -> None:
        self._by_type: dict[str, Registered] = {}
        self._overridable = frozenset(overridable)

    def add(self, handler_class: type[Handler], origin: str = "direct") -> None:
        type_name = getattr(handler_class, "type", None)
        if not isinstance(type_name, str) or not TYPE_NAME.match(type_name):
            raise RegistryError(f"handler {handler_class.__qualname__} from {origin}: type {type_name!r} is not a valid name [a-z][a-z0-9_.]*")
        if getattr(handler_class, "tables", None):
            raise RegistryError(
                f"handler type {type_name!r} from {origin} declares `tables`: since plugin API 1.1 a plugin's tables come from"
                " its own migrations (entry point group hubbub.migrations, run by `hubbub migrate`; PLUGINS.md)"
            )
        other = self._by_type.get(type_name)
        if other is not None and not (other.builtin and origin != BUILTIN_ORIGIN and type_name in self._overridable):
            hint = " (a built-in can be replaced only when handlers_override names it)" if other.builtin else ""
            raise RegistryError(f"handler type {type_name!r} from {origin} is already registered by {other.origin}{hint}")
        try:
            schema = handler_class.schema()
        except Exception as exc:
            raise RegistryError(f"handler type {type_name!r} from {origin}: its schema cannot be made: {exc!r}") from exc
        self._by_type[type_name] = Registered(handler_class(), schema, origin)

    def get(self, type_name: str) -> Registered | None:
        return self._by_type.get(type_name)

    def handlers(self) -> list[Registered]:
        return [self._by_type[name] for name in sorted(self._by_type)]

    def plugin_names(self) -> list[PluginName]:
        """The frame types and declared events of the plugins' handlers, for the prefix check."""
        names = []
        for registered in self.handlers():
            if registered.builtin:
                continue
            names.append(PluginName(registered.origin, "frame type", registered.handler.type))
            names.extend(PluginName(registered.origin, "event", event) for event in sorted(registered.handler.events))
        return names

    def types(self) -> dict[str, str]:
        """Frame type → origin, for the startup log."""
        return {name: registered.origin for name, registered in sorted(self._by_type.items())}


def load_entry_points(registry: HandlerRegistry, points: Iterable[EntryPoint] | None = None) -> None:
    points = entry_points(group=ENTRY_POINT_GROUP) if points is None else points
    for point in sorted(points, key=lambda p: (p.name, origin_of(p) != BUILTIN_ORIGIN, origin_of(p))):
        origin = origin_of(point)
        try:
            handler_class = point.load()
        except Exception as exc:
            raise RegistryError(f"handler {point.name!r} from {origin} failed to import: {exc!r}") from exc
        if not (isinstance(handler_class, type) and issubclass(handler_class, Handler)):
            raise RegistryError(f"entry point {point.name!r} from {origin} is not a Handler subclass")
        if handler_class.type != point.name:
            raise RegistryError(f"entry point {point.name!r} from {origin} declares type {handler_class.type!r}; the names must match")
        registry.add(handler_class, origin)


def selected_entry_points(settings: Settings, points: Iterable[EntryPoint] | None = None) -> list[EntryPoint]:
    """The entry points the settings ask for: built-ins unless disabled; plugins when autoload
    is on or `plugins_enabled` names them."""
    points = entry_points(group=ENTRY_POINT_GROUP) if points is None else points
    chosen = []
    for point in points:
        if point.name in settings.handlers_disabled:
            continue
        if origin_of(point) == BUILTIN_ORIGIN or settings.plugins_autoload or point.name in settings.plugins_enabled:
            chosen.append(point)
    return chosen


def builtin_type_names(registry: HandlerRegistry, points: Iterable[EntryPoint] | None = None) -> set[str]:
    """Every built-in frame type, served or not (disabled or replaced ones stay the server's)."""
    points = entry_points(group=ENTRY_POINT_GROUP) if points is None else points
    installed = {point.name for point in points if origin_of(point) == BUILTIN_ORIGIN}
    return installed | {registered.handler.type for registered in registry.handlers() if registered.builtin}


def registry_from_settings(settings: Settings, points: Iterable[EntryPoint] | None = None) -> HandlerRegistry:
    registry = HandlerRegistry(overridable=settings.handlers_override)
    load_entry_points(registry, selected_entry_points(settings, points))
    return registry
