"""GET /ws: the handshake, then one reader loop per socket feeding the frame pipeline."""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web
from yarl import URL

from handlers.base import Context
from handlers.errors import Forbidden
from server.keys import DB, DELIVERY, PIPELINE, SERVICES, SETTINGS
from server.logs import new_socket_id, socket_var, stamp_request_id, user_id_var
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

    ws = _Socket(
        # aiohttp refuses a message of exactly max_msg_size; the contract allows exactly the limit.
        max_msg_size=settings.ws_max_frame_bytes + 1,
        compress=False,
        heartbeat=settings.ws_heartbeat_seconds,
    )
    stamp_request_id(ws)
    await ws.prepare(request)
    # Sent. aiohttp never reads an answer's headers once it is prepared, but keeps them as long
    # as the socket lives: emptied, their table shrinks from 456 bytes to 88.
    ws.headers.clear()
    ws.read_frames_after_handshake(
        app,
        Connection(
            ws,
            request.transport,
            claims.user_id,
            claims.revocation_key,
            claims.expires_at,
            settings.ws_send_queue_max,
            protocol=request.protocol,
            token_generation=claims.generation,
            session_id=claims.session_id,
        ),
    )
    return ws


class _Socket(web.WebSocketResponse):
    """The handshake's answer, which reads the socket's frames when aiohttp finishes it.

    aiohttp calls `write_eof` right after the handler and the middleware chain have returned,
    in the same task and without yielding to the loop in between. Reading the frames there
    rather than in the handler lets the chain's five suspended coroutines and the handshake's
    locals (the token's claims among them) go for the socket's whole life: ~1.6 KiB of an idle
    socket's memory. A failed handshake never gets here: the middlewares answer it as they
    answer any request."""

    __slots__ = ("_app", "_conn")

    def read_frames_after_handshake(self, app: web.Application, conn: Connection) -> None:
        self._app = app
        self._conn = conn

    async def write_eof(self) -> None:
        """The socket's life, then aiohttp's own end of the answer (the close). The handlers'
        context and the rate bucket are made on the first frame: an idle socket keeps neither,
        and a bucket made then is what one made at the handshake would be by then (full)."""
        conn = getattr(self, "_conn", None)
        if conn is not None:  # once, and only for a socket that completed its handshake
            app, self._app, self._conn = self._app, None, None
            delivery = app[DELIVERY]
            pipeline = app[PIPELINE]
            ctx: Context | None = None
            bucket: TokenBucket | None = None
            try:
                delivery.socket_opened(conn)
                async for msg in self:
                    if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY) and conn.takes_frames:
                        if ctx is None:
                            settings = app[SETTINGS]
                            ctx = Context(
                                user_id=conn.user_id,
                                socket=conn,
                                services=app[SERVICES],
                                push=delivery,
                                db=app[DB],
                                settings=settings,
                                logger=handler_log,
                            )
                            bucket = TokenBucket(settings.ws_rate_per_second, settings.ws_rate_burst)
                        conn.frame_started()
                        try:
                            conn.send_json(await pipeline.process(ctx, bucket, msg.type, msg.data))
                        finally:
                            conn.frame_done()
            finally:
                delivery.socket_closed(conn)
                await conn.stop_writer()
        await super().write_eof()


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
