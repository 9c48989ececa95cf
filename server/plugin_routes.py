"""Serving the plugins' REST routes (handlers.routes) as the server's own: under
`/api/plugins/<prefix>`, behind the same bearer auth (server.middleware), answering in the
same envelope with the same error mapping, listed in /api/openapi.json, and cut off after
`plugin_timeout_seconds` like a plugin's socket handler."""

import asyncio
import logging
from collections.abc import Iterable

from aiohttp import web
from marshmallow import ValidationError

from handlers.base import Reply
from handlers.errors import HubbubError, TimedOut
from handlers.metrics import PLUGIN_CALLS
from handlers.plugin_push import PluginEvents
from handlers.routes import NamedRoutes, PluginRequest, PluginRoute, RequestContext
from server.errors import database_unavailable
from server.envelope import envelope, read_json, read_query
from server.keys import CLAIMS, DB, DELIVERY, SERVICES, SETTINGS
from server.openapi import API_DOC_ATTRIBUTE, ApiDoc
from server.routes.params import path_id

log = logging.getLogger(__name__)
PREFIX = "/api/plugins"


def add_plugin_routes(app: web.Application, tables: Iterable[NamedRoutes], timeout_seconds: float, events: PluginEvents) -> None:
    """`events` checks the names of what each plugin pushes (handlers.plugin_push)."""
    for named in tables:
        logger = logging.getLogger(f"hubbub.plugins.{named.origin}")
        for route in named.table.routes:
            path = f"{PREFIX}/{named.name}{route.path}".rstrip("/")
            app.router.add_route(route.method, path, _view(named, route, logger, timeout_seconds, events))


def _view(named: NamedRoutes, route: PluginRoute, logger: logging.Logger, timeout_seconds: float, events: PluginEvents):
    label = f"{route.method} {route.path}"

    async def view(request: web.Request) -> web.Response:
        app = request.app
        path = {name: path_id(request, name) if name == "id" or name.endswith("_id") else value for name, value in request.match_info.items()}
        query = read_query(request, route.query()) if route.query is not None else {}
        body = await read_json(request, route.body()) if route.body is not None else None
        claims = request.get(CLAIMS)
        ctx = RequestContext(claims.user_id if claims is not None else None, app[SERVICES], app[DELIVERY], app[DB], app[SETTINGS], logger)
        try:
            with events.calling(named.origin):  # what it pushes carries its prefix
                result = await asyncio.wait_for(route.view(ctx, PluginRequest(path, query, body)), timeout_seconds)
        except TimeoutError:
            PLUGIN_CALLS(named.origin, "route", label, "timeout").inc()
            log.error("route %s of %s from %s timed out after %ss", label, named.name, named.origin, timeout_seconds, extra={"plugin": named.origin})
            raise TimedOut() from None
        except (HubbubError, ValidationError):
            PLUGIN_CALLS(named.origin, "route", label, "refused").inc()
            raise
        except Exception as exc:
            if database_unavailable(exc):  # 503, as anywhere else
                raise
            PLUGIN_CALLS(named.origin, "route", label, "error").inc()
            log.exception("route %s of %s from %s failed", label, named.name, named.origin, extra={"plugin": named.origin})
            raise HubbubError() from exc
        PLUGIN_CALLS(named.origin, "route", label, "ok").inc()
        if isinstance(result, Reply):
            return envelope(result.data, code=result.code)
        return envelope(result, code=route.status)

    if route.public:
        view.is_public = True
    setattr(view, API_DOC_ATTRIBUTE, ApiDoc(f"{route.summary} (plugin {named.name}, from {named.origin})", route.body, route.query, route.response, route.status, route.errors))
    return view
