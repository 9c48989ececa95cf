"""POST /api/auth/register, /login, /logout."""

from aiohttp import web

from handlers.errors import Forbidden, RateLimited, Unauthorized
from handlers.metrics import LOGINS
from handlers.schemas import ChangePasswordSchema, LoginSchema, RegisterSchema
from server.envelope import envelope, read_json
from server.keys import CLAIMS, DELIVERY, SERVICES
from server.middleware import public
from server.openapi import documented

routes = web.RouteTableDef()
_LOGIN_RESULTS = {Unauthorized: "failed", Forbidden: "disabled", RateLimited: "throttled"}


@routes.post("/api/auth/register")
@public
@documented("Create an account", body=RegisterSchema, response="MeVO", status=201, errors=(409, 422))
async def register(request: web.Request) -> web.Response:
    body = await read_json(request, RegisterSchema())
    user = await request.app[SERVICES].auth.register(**body)
    return envelope(user, code=201)


@routes.post("/api/auth/login")
@public
@documented("Log in with username or email", body=LoginSchema, response="LoginVO", errors=(401, 403, 422, 429))
async def login(request: web.Request) -> web.Response:
    body = await read_json(request, LoginSchema())
    try:
        result = await request.app[SERVICES].auth.login(**body, client_address=request.remote or "unknown")
    except (Unauthorized, Forbidden, RateLimited) as refused:
        LOGINS(_LOGIN_RESULTS[type(refused)]).inc()
        raise
    LOGINS("ok").inc()
    return envelope(result)


@routes.post("/api/auth/password")
@documented(
    "Change the password: every other token of the caller is revoked and its sockets close (1008); this token stays valid",
    body=ChangePasswordSchema,
    errors=(401, 403, 422, 429),
)
async def change_password(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    body = await read_json(request, ChangePasswordSchema())
    await request.app[SERVICES].auth.change_password(claims, **body, client_address=request.remote or "unknown")
    request.app[DELIVERY].close_user_but(claims.user_id, claims.jti)
    return envelope(None)


@routes.post("/api/auth/logout")
@documented("Revoke this token and close its sockets")
async def logout(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    await request.app[SERVICES].auth.logout(claims)
    request.app[DELIVERY].close_token(claims.jti)
    return envelope(None)
