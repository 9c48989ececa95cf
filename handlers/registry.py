"""Finding handler classes. Built-ins and plugins alike are declared in the entry point group
`hubbub.handlers` (name = frame type, value = `module:Class`); the registry loads them in
name order so startup is deterministic."""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from handlers.base import Handler

ENTRY_POINT_GROUP = "hubbub.handlers"
TYPE_NAME = re.compile(r"[a-z][a-z0-9_.]*\Z")


class RegistryError(Exception):
    """A handler cannot be registered; the message names it and where it came from."""


@dataclass(frozen=True, slots=True)
class Registered:
    handler: Handler
    origin: str  # the distribution that declared it, or "direct"


class HandlerRegistry:
    def __init__(self) -> None:
        self._by_type: dict[str, Registered] = {}

    def add(self, handler_class: type[Handler], origin: str = "direct") -> None:
        type_name = getattr(handler_class, "type", None)
        if not isinstance(type_name, str) or not TYPE_NAME.match(type_name):
            raise RegistryError(f"handler {handler_class.__qualname__} from {origin}: type {type_name!r} is not a valid name [a-z][a-z0-9_.]*")
        if type_name in self._by_type:
            other = self._by_type[type_name]
            raise RegistryError(f"handler type {type_name!r} from {origin} is already registered by {other.origin}")
        self._by_type[type_name] = Registered(handler_class(), origin)

    def get(self, type_name: str) -> Handler | None:
        registered = self._by_type.get(type_name)
        return registered.handler if registered is not None else None

    def types(self) -> dict[str, str]:
        """Frame type → origin, for the startup log."""
        return {name: registered.origin for name, registered in sorted(self._by_type.items())}


def load_entry_points(registry: HandlerRegistry, points: Iterable[EntryPoint] | None = None) -> None:
    points = entry_points(group=ENTRY_POINT_GROUP) if points is None else points
    for point in sorted(points, key=lambda p: p.name):
        origin = point.dist.name if point.dist is not None else point.value
        try:
            handler_class = point.load()
        except Exception as exc:
            raise RegistryError(f"handler {point.name!r} from {origin} failed to import: {exc!r}") from exc
        if not (isinstance(handler_class, type) and issubclass(handler_class, Handler)):
            raise RegistryError(f"entry point {point.name!r} from {origin} is not a Handler subclass")
        if handler_class.type != point.name:
            raise RegistryError(f"entry point {point.name!r} from {origin} declares type {handler_class.type!r}; the names must match")
        registry.add(handler_class, origin)


def default_registry() -> HandlerRegistry:
    registry = HandlerRegistry()
    load_entry_points(registry)
    return registry
