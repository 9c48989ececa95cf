"""The two middlewares: every answer in the envelope, and the bearer token on every route
that is not marked public."""

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from handlers.errors import BadRequest, HubbubError, Unauthorized
from server.envelope import error_envelope
from server.errors import as_client_error
from server.keys import CLAIMS, SERVICES
from server.logs import user_id_var

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger(__name__)

_HTTP_MESSAGES = {
    400: "malformed request",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
}


def public(view: Handler) -> Handler:
    """Mark a view that needs no token."""
    view.is_public = True
    return view


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error = HubbubError(_HTTP_MESSAGES.get(exc.status, exc.reason))
        error.code = exc.status
        response = error_envelope(error)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except ConnectionResetError as exc:
        if not _client_gone(request):
            return error_envelope(as_client_error(exc, f"{request.method} {request.path}"))
        # The client hung up in the middle (a request body cut short, a download it stopped
        # reading): nothing went wrong here, and there is no one left to answer.
        log.info("%s %s: the client hung up", request.method, request.path)
        return error_envelope(BadRequest("the client hung up"))
    except Exception as exc:  # noqa: BLE001 - no fault leaves the server as a stack trace
        return error_envelope(as_client_error(exc, f"{request.method} {request.path}"))


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bearer auth for /api (PROTOCOL §3); /ws authenticates itself, the rest is public."""
    if not request.path.startswith("/api/") or getattr(request.match_info.handler, "is_public", False):
        return await handler(request)
    if request.match_info.http_exception is not None:
        # No such path (404) or method (405): that answer needs no token and reveals nothing.
        return await handler(request)
    token = bearer_token(request, allow_query=False)
    request[CLAIMS] = await request.app[SERVICES].auth.authenticate(token)
    user_id_var.set(request[CLAIMS].user_id)
    return await handler(request)


def bearer_token(request: web.Request, *, allow_query: bool) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if allow_query and request.query.get("token"):
        return request.query["token"]
    raise Unauthorized("missing bearer token")
