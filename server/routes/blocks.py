"""/api/users/blocked and /api/users/{id}/block: whom the caller blocks. Registered before
/api/users/{id}, which would take "blocked" for an id."""

from aiohttp import web

from server.envelope import envelope
from server.keys import CLAIMS, SERVICES
from server.openapi import documented
from server.routes.params import path_id

routes = web.RouteTableDef()


@routes.get("/api/users/blocked")
@documented("The users the caller blocks, latest first", response="[BlockedUserVO]")
async def list_blocked(request: web.Request) -> web.Response:
    return envelope(await request.app[SERVICES].blocks.blocked(request[CLAIMS].user_id))


@routes.post("/api/users/{id}/block")
@documented(
    "Block a user: they can no longer start or write in a direct conversation with the caller (403) nor see the caller's presence or typing",
    errors=(404, 422),
)
async def block(request: web.Request) -> web.Response:
    await request.app[SERVICES].blocks.block(request[CLAIMS].user_id, path_id(request, "id"))
    return envelope(None)


@routes.delete("/api/users/{id}/block")
@documented("Unblock a user", errors=(404,))
async def unblock(request: web.Request) -> web.Response:
    await request.app[SERVICES].blocks.unblock(request[CLAIMS].user_id, path_id(request, "id"))
    return envelope(None)
