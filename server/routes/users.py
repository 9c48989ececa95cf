"""/api/users: the caller's profile and the directory."""

from aiohttp import web

from handlers.schemas import DeleteAccountSchema, UpdateMeSchema, UserSearchSchema
from server.envelope import envelope, read_json, read_query
from server.keys import CLAIMS, DELIVERY, SERVICES
from server.openapi import documented
from server.routes.params import path_id

routes = web.RouteTableDef()


@routes.get("/api/users/me")
@documented("The caller's profile", response="MeVO")
async def get_me(request: web.Request) -> web.Response:
    return envelope(await request.app[SERVICES].users.me(request[CLAIMS].user_id))


@routes.patch("/api/users/me")
@documented("Change nickname or avatar (an avatar naming an upload: the caller's own image, then readable by everyone signed in)", body=UpdateMeSchema, response="MeVO", errors=(422,))
async def update_me(request: web.Request) -> web.Response:
    changes = await read_json(request, UpdateMeSchema())
    return envelope(await request.app[SERVICES].users.update_me(request[CLAIMS].user_id, changes))


@routes.delete("/api/users/me")
@documented(
    "Delete the caller's account, confirmed with its password and, with two-factor on, a TOTP or recovery code: disabled and anonymised at once, every session revoked and socket closed (1008), owned groups handed over, files no longer served, its direct conversations closed to writing; the messages stay",
    body=DeleteAccountSchema,
    errors=(403, 422, 429),
)
async def delete_me(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    body = await read_json(request, DeleteAccountSchema())
    services = request.app[SERVICES]
    client_address = request.remote or "unknown"
    await services.auth.check_password(claims, body["password"], client_address)
    await services.two_factor.require_code_if_enabled(claims, body["code"], client_address)
    handovers = await services.auth.delete_account(claims)
    request.app[DELIVERY].close_user(claims.user_id, "account deleted")
    await services.conversations.announce_handovers(handovers, claims.user_id)
    await services.users.announce_profile(claims.user_id)
    return envelope(None)


@routes.get("/api/users")
@documented("Search users by username or nickname prefix, by id ascending", query=UserSearchSchema, response="[UserVO]", errors=(422,))
async def list_users(request: web.Request) -> web.Response:
    query = read_query(request, UserSearchSchema())
    return envelope(await request.app[SERVICES].users.search(request[CLAIMS].user_id, prefix=query["q"], after=query["after"], limit=query["limit"]))


@routes.get("/api/users/{id}")
@documented("One user", response="UserVO", errors=(404,))
async def get_user(request: web.Request) -> web.Response:
    return envelope(await request.app[SERVICES].users.get(request[CLAIMS].user_id, path_id(request, "id")))
