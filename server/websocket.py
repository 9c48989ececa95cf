"""GET /ws: the handshake, then one reader loop per socket feeding the frame pipeline."""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web
from yarl import URL

from handlers.base import Context
from handlers.errors import Forbidden
from server.keys import DB, DELIVERY, PIPELINE, SERVICES, SETTINGS
from server.logs import new_socket_id, socket_var, user_id_var
from server.middleware import bearer_token, public
from server.rate_limit import TokenBucket
from server.tracker import Connection

log = logging.getLogger(__name__)
handler_log = logging.getLogger("hubbub.handlers")

routes = web.RouteTableDef()


@routes.get("/ws")
@public  # authenticates itself: the token may come in the query string, browsers cannot set headers
async def websocket(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    settings = app[SETTINGS]
    claims = await app[SERVICES].auth.authenticate(bearer_token(request, allow_query=True))
    user_id_var.set(claims.user_id)
    socket_var.set(new_socket_id())
    _check_origin(request, settings.allowed_origins)

    ws = web.WebSocketResponse(
        # aiohttp refuses a message of exactly max_msg_size; the contract allows exactly the limit.
        max_msg_size=settings.ws_max_frame_bytes + 1,
        compress=False,
        heartbeat=settings.ws_heartbeat_seconds,
    )
    await ws.prepare(request)
    delivery = app[DELIVERY]
    conn = Connection(
        ws,
        request.transport,
        claims.user_id,
        claims.jti,
        claims.expires_at,
        settings.ws_send_queue_max,
        protocol=request.protocol,
        token_generation=claims.generation,
    )
    ctx = Context(
        user_id=claims.user_id,
        socket=conn,
        services=app[SERVICES],
        push=delivery,
        db=app[DB],
        settings=settings,
        logger=handler_log,
    )
    bucket = TokenBucket(settings.ws_rate_per_second, settings.ws_rate_burst)
    pipeline = app[PIPELINE]
    try:
        delivery.socket_opened(conn)
        async for msg in ws:
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY) and conn.takes_frames:
                conn.frame_started()
                try:
                    conn.send_json(await pipeline.process(ctx, bucket, msg.type, msg.data))
                finally:
                    conn.frame_done()
    finally:
        delivery.socket_closed(conn)
        await conn.stop_writer()
    return ws


def _check_origin(request: web.Request, allowed: tuple[str, ...]) -> None:
    """Browsers always send Origin on a socket handshake; other clients need not."""
    origin = request.headers.get("Origin")
    if origin is None or "*" in allowed:
        return
    if allowed:
        if origin in allowed:
            return
    elif _same_origin(request, origin):
        return
    raise Forbidden("origin not allowed")


def _same_origin(request: web.Request, origin: str) -> bool:
    try:
        parsed = URL(origin)
        return parsed.host is not None and f"{parsed.host}:{parsed.explicit_port or parsed.port}" == _host_with_port(request)
    except ValueError:  # an Origin or Host that is not a URL (bad port, bad IPv6 literal): not ours
        return False


def _host_with_port(request: web.Request) -> str:
    host = URL(f"{request.scheme}://{request.host}")
    return f"{host.host}:{host.explicit_port or host.port}"
