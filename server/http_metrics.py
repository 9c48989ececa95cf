"""REST requests counted and timed by route (its pattern, not the path: one label per route),
method and status. The socket endpoint is left out: its "request" lasts as long as the socket."""

import time

from aiohttp import web

from handlers.metrics import HTTP_REQUESTS
from server.middleware import Handler

UNMATCHED = "unmatched"  # no route: any path a client makes up counts under this one label


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = request.match_info.route.resource
    pattern = route.canonical if route is not None else UNMATCHED
    if pattern == "/ws":
        return await handler(request)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # a redirect, which the error middleware lets through
        status = exc.status
        raise
    finally:
        HTTP_REQUESTS(pattern, request.method, status).observe(time.perf_counter() - started)
