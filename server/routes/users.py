"""/api/users: the caller's profile and the directory."""

from aiohttp import web

from handlers.schemas import UpdateMeSchema, UserSearchSchema
from server.envelope import envelope, read_json, read_query
from server.keys import CLAIMS, SERVICES
from server.openapi import documented
from server.routes.params import path_id

routes = web.RouteTableDef()


@routes.get("/api/users/me")
@documented("The caller's profile", response="MeVO")
async def get_me(request: web.Request) -> web.Response:
    return envelope(await request.app[SERVICES].users.me(request[CLAIMS].user_id))


@routes.patch("/api/users/me")
@documented("Change nickname or avatar", body=UpdateMeSchema, response="MeVO", errors=(422,))
async def update_me(request: web.Request) -> web.Response:
    changes = await read_json(request, UpdateMeSchema())
    return envelope(await request.app[SERVICES].users.update_me(request[CLAIMS].user_id, changes))


@routes.get("/api/users")
@documented("Search users by username or nickname prefix, by id ascending", query=UserSearchSchema, response="[UserVO]", errors=(422,))
async def list_users(request: web.Request) -> web.Response:
    query = read_query(request, UserSearchSchema())
    return envelope(await request.app[SERVICES].users.search(prefix=query["q"], after=query["after"], limit=query["limit"]))


@routes.get("/api/users/{id}")
@documented("One user", response="UserVO", errors=(404,))
async def get_user(request: web.Request) -> web.Response:
    return envelope(await request.app[SERVICES].users.get(path_id(request, "id")))
