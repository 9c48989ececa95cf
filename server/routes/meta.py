"""/healthz and /api/openapi.json."""

import asyncio

from aiohttp import web
from sqlalchemy import text

from handlers.errors import ServiceUnavailable
from server.envelope import envelope
from server.errors import database_unavailable
from server.keys import DB, DELIVERY
from server.middleware import public
from server.openapi import build_spec, documented

routes = web.RouteTableDef()
HEALTH_TIMEOUT_SECONDS = 3


async def _ping(db) -> None:
    async with db.connect() as conn:
        await conn.execute(text("SELECT 1"))


@routes.get("/healthz")
@public
@documented("200 when the database answers, else 503; in a cluster, whether the bus is connected", response="HealthVO", errors=(503,))
async def healthz(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(_ping(request.app[DB]), HEALTH_TIMEOUT_SECONDS)
    except asyncio.TimeoutError:
        raise ServiceUnavailable("database unavailable") from None
    except Exception as exc:  # noqa: BLE001 - only an outage is a 503; a fault of ours stays a logged 500
        if database_unavailable(exc):
            raise ServiceUnavailable("database unavailable") from None
        raise
    health = {"database": "ok"}
    bus = request.app[DELIVERY].bus_connected
    if bus is not None:
        # Without the bus a process still commits and serves its own sockets: degraded, not down.
        health["bus"] = "ok" if bus else "degraded"
    return envelope(health)


@routes.get("/api/openapi.json")
@public
async def openapi(request: web.Request) -> web.Response:
    return web.json_response(build_spec(request.app))
