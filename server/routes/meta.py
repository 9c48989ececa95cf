"""/healthz, /readyz, /api/openapi.json and /api/asyncapi.json."""

from aiohttp import web

from handlers.errors import ServiceUnavailable
from server.asyncapi import build_asyncapi
from server.envelope import envelope
from server.keys import DELIVERY, READINESS, REGISTRY
from server.middleware import public
from server.openapi import build_spec, documented
from server.readiness import NotReady

routes = web.RouteTableDef()


@routes.get("/healthz")
@public
@documented("Liveness: 200 while the process answers, whatever its database and bus", response="LiveVO")
async def healthz(request: web.Request) -> web.Response:
    return envelope({"status": "ok"})


@routes.get("/readyz")
@public
@documented(
    "Readiness: 200 when the database answers a fresh connection, its schema and every enabled plugin's are at the "
    "newest revision and the process is not shutting down, else 503; in a cluster, whether the bus is connected",
    response="ReadyVO",
    errors=(503,),
)
async def readyz(request: web.Request) -> web.Response:
    try:
        await request.app[READINESS].check()
    except NotReady as reason:
        raise ServiceUnavailable(f"not ready: {reason}") from None
    ready = {"database": "ok", "schema": "ok"}
    bus = request.app[DELIVERY].bus_connected
    if bus is not None:
        # Without the bus a process still commits and serves its own sockets: degraded, not down.
        ready["bus"] = "ok" if bus else "degraded"
    return envelope(ready)


@routes.get("/api/openapi.json")
@public
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_spec(request.app))


@routes.get("/api/asyncapi.json")
@public
async def asyncapi(request: web.Request) -> web.Response:
    return web.json_response(build_asyncapi(request.app[REGISTRY], request.host, request.secure))
