"""POST /api/auth/register, /login, /refresh, /password, /logout, /logout-all; the caller's
sessions: GET /api/auth/sessions, DELETE /api/auth/sessions/{id}."""

from aiohttp import web

from handlers.errors import NotFound
from handlers.schemas import ChangePasswordSchema, LoginSchema, RefreshSchema, RegisterSchema
from handlers.services.auth import RefreshTokenReused
from server.envelope import envelope, read_json
from server.keys import CLAIMS, DELIVERY, SERVICES
from server.middleware import public
from server.openapi import documented
from server.routes.logins import counted_login
from server.routes.params import path_id

routes = web.RouteTableDef()


@routes.post("/api/auth/register")
@public
@documented("Create an account", body=RegisterSchema, response="MeVO", status=201, errors=(409, 422))
async def register(request: web.Request) -> web.Response:
    body = await read_json(request, RegisterSchema())
    user = await request.app[SERVICES].auth.register(**body)
    return envelope(user, code=201)


@routes.post("/api/auth/login")
@public
@documented(
    "Log in with username or email: a new session, its access token and refresh token; with two-factor on, a 401 whose data is the challenge for POST /api/auth/login/2fa",
    body=LoginSchema,
    response="LoginVO",
    errors=(401, 403, 422, 429),
    error_data={401: "TwoFactorChallenge"},
)
async def login(request: web.Request) -> web.Response:
    body = await read_json(request, LoginSchema())
    attempt = request.app[SERVICES].auth.login(
        **body, client_address=request.remote or "unknown", user_agent=request.headers.get("User-Agent")
    )
    return envelope(await counted_login(attempt))


@routes.post("/api/auth/refresh")
@public
@documented(
    "A new access token and refresh token for the session; a refresh token works once, and one used again revokes its session",
    body=RefreshSchema,
    response="TokenVO",
    errors=(401, 403, 422),
)
async def refresh(request: web.Request) -> web.Response:
    body = await read_json(request, RefreshSchema())
    try:
        return envelope(await request.app[SERVICES].auth.refresh(body["refresh_token"]))
    except RefreshTokenReused as reused:
        request.app[DELIVERY].close_token(f"s{reused.session_id}")
        raise


@routes.get("/api/auth/sessions")
@documented("The caller's sessions (devices), most recently seen first", response="[SessionVO]")
async def list_sessions(request: web.Request) -> web.Response:
    return envelope(await request.app[SERVICES].auth.sessions(request[CLAIMS]))


@routes.delete("/api/auth/sessions/{session_id}")
@documented("Revoke one of the caller's sessions: its tokens stop working and its sockets close (1008)", errors=(404,))
async def revoke_session(request: web.Request) -> web.Response:
    session_id = path_id(request, "session_id")
    if not await request.app[SERVICES].auth.revoke_session(request[CLAIMS], session_id):
        raise NotFound("no such session")
    request.app[DELIVERY].close_token(f"s{session_id}")
    return envelope(None)


@routes.post("/api/auth/logout-all")
@documented("Revoke every other session and token of the caller and close their sockets (1008); this one stays")
async def logout_all(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    await request.app[SERVICES].auth.logout_others(claims)
    request.app[DELIVERY].close_user_but(claims.user_id, claims.revocation_key)
    return envelope(None)


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
    request.app[DELIVERY].close_user_but(claims.user_id, claims.revocation_key)
    return envelope(None)


@routes.post("/api/auth/logout")
@documented("End this token's session (its refresh token too) and close its sockets (1008)")
async def logout(request: web.Request) -> web.Response:
    claims = request[CLAIMS]
    await request.app[SERVICES].auth.logout(claims)
    request.app[DELIVERY].close_token(claims.revocation_key)
    return envelope(None)
