"""REST routes of a plugin, served under `/api/plugins/<prefix>/...` with the server's own
bearer auth, envelope, error mapping and OpenAPI listing (PLUGINS.md §6).

A plugin declares a `PluginRoutes` in the entry point group `hubbub.routes`, named by its
prefix:

    routes = PluginRoutes()

    @routes.get("/conversations/{conversation_id}", summary="The pins of a conversation", response=PinsSchema, errors=(404,))
    async def list_pins(ctx: RequestContext, request: PluginRequest) -> dict: ...

A view returns the answer's `data` (200, or the route's `status`) or a `Reply(data, code)`, or
raises a `handlers.errors` error. It is cut off after `plugin_timeout_seconds` (504)."""

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from marshmallow import Schema
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.plugin_entry_points import load_enabled
from handlers.push import Pusher
from settings import Settings

ENTRY_POINT_GROUP = "hubbub.routes"
_PATH = re.compile(r"(/([a-z0-9_.-]+|\{[a-z_][a-z0-9_]*\}))+\Z|/\Z")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What a view may use, as a socket handler's `Context` minus the socket."""

    user_id: int | None  # None on a public route
    services: Any  # handlers.services.Services
    push: Pusher
    db: AsyncEngine
    settings: Settings
    logger: logging.Logger


@dataclass(frozen=True, slots=True)
class PluginRequest:
    """The request as the route's schemas loaded it. Path parameters named `id` or ending in
    `_id` are positive integers (anything else there is a 404, as on the server's own routes);
    others are text."""

    path: dict[str, Any]
    query: dict[str, Any]
    body: dict[str, Any] | None


View = Callable[[RequestContext, PluginRequest], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class PluginRoute:
    method: str
    path: str  # below /api/plugins/<prefix>
    view: View
    summary: str
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    response: type[Schema] | Schema | None = None  # a schema of `data`; Schema(many=True) for a list
    status: int = 200
    errors: tuple[int, ...] = field(default_factory=tuple)
    public: bool = False  # no bearer token needed


class PluginRoutes:
    def __init__(self) -> None:
        self.routes: list[PluginRoute] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[Schema] | None = None,
        query: type[Schema] | None = None,
        response: type[Schema] | Schema | None = None,
        status: int = 200,
        errors: tuple[int, ...] = (),
        public: bool = False,
    ) -> Callable[[View], View]:
        method = method.upper()
        if method not in METHODS:
            raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
        if not _PATH.match(path):
            raise ValueError(f"path {path!r} must start with / and hold lower-case segments or {{name}} parameters")

        def register(view: View) -> View:
            self.routes.append(PluginRoute(method, path, view, summary, body, query, response, status, tuple(errors), public))
            return view

        return register

    def get(self, path: str, **options: Any) -> Callable[[View], View]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[View], View]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[View], View]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[View], View]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[View], View]:
        return self.route("DELETE", path, **options)


class RouteError(Exception):
    """A plugin's routes cannot be loaded; the message names the entry point and its distribution."""


@dataclass(frozen=True, slots=True)
class NamedRoutes:
    name: str  # the entry point's name: the plugin's prefix, the path segment after /api/plugins/
    origin: str
    table: PluginRoutes


def load_route_tables(settings: Settings, points: Iterable[EntryPoint] | None = None) -> list[NamedRoutes]:
    """The route tables the settings ask for (`plugins_autoload`, `plugins_enabled`), in name order."""
    points = entry_points(group=ENTRY_POINT_GROUP) if points is None else points
    loaded = []
    for entry in load_enabled(points, settings, kind="routes", error=RouteError):
        if not isinstance(entry.value, PluginRoutes):
            raise RouteError(f"routes {entry.name!r} from {entry.origin} are not a handlers.api.PluginRoutes")
        loaded.append(NamedRoutes(entry.name, entry.origin, entry.value))
    return loaded
