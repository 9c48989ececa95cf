"""Two-factor authentication: GET /api/auth/2fa, POST /api/auth/2fa/enrol, /confirm, /disable,
and the second step of a login, POST /api/auth/login/2fa."""

from aiohttp import web

from handlers.schemas import TwoFactorConfirmSchema, TwoFactorDisableSchema, TwoFactorEnrolSchema, TwoFactorLoginSchema
from server.envelope import envelope, read_json
from server.keys import CLAIMS, SERVICES
from server.middleware import public
from server.openapi import documented
from server.routes.logins import counted_login

routes = web.RouteTableDef()


def _address(request: web.Request) -> str:
    return request.remote or "unknown"


@routes.get("/api/auth/2fa")
@documented("Whether the caller has two-factor authentication on, and how many recovery codes are left", response="TwoFactorStatusVO")
async def status(request: web.Request) -> web.Response:
    return envelope(await request.app[SERVICES].two_factor.status(request[CLAIMS]))


@routes.post("/api/auth/2fa/enrol")
@documented(
    "Start enrolling (password checked, throttled as login): a new secret, its otpauth URI and a QR code, shown this once; on after /confirm",
    body=TwoFactorEnrolSchema,
    response="TwoFactorEnrolmentVO",
    errors=(403, 409, 422, 429),
)
async def enrol(request: web.Request) -> web.Response:
    body = await read_json(request, TwoFactorEnrolSchema())
    return envelope(await request.app[SERVICES].two_factor.enrol(request[CLAIMS], **body, client_address=_address(request)))


@routes.post("/api/auth/2fa/confirm")
@documented(
    "Turn two-factor on with a code of the pending secret: ten recovery codes, shown this once",
    body=TwoFactorConfirmSchema,
    response="RecoveryCodesVO",
    errors=(403, 409, 422, 429),
)
async def confirm(request: web.Request) -> web.Response:
    body = await read_json(request, TwoFactorConfirmSchema())
    return envelope(await request.app[SERVICES].two_factor.confirm(request[CLAIMS], **body, client_address=_address(request)))


@routes.post("/api/auth/2fa/disable")
@documented("Turn two-factor off, with the password and a code (TOTP or recovery)", body=TwoFactorDisableSchema, errors=(403, 409, 422, 429))
async def disable(request: web.Request) -> web.Response:
    body = await read_json(request, TwoFactorDisableSchema())
    await request.app[SERVICES].two_factor.disable(request[CLAIMS], **body, client_address=_address(request))
    return envelope(None)


@routes.post("/api/auth/login/2fa")
@public
@documented(
    "The second step of a login with two-factor on: the challenge of the first step's 401 and a TOTP or recovery code",
    body=TwoFactorLoginSchema,
    response="LoginVO",
    errors=(401, 422, 429),
)
async def login(request: web.Request) -> web.Response:
    body = await read_json(request, TwoFactorLoginSchema())
    attempt = request.app[SERVICES].two_factor.login(**body, client_address=_address(request), user_agent=request.headers.get("User-Agent"))
    return envelope(await counted_login(attempt))
