"""The browser client: static files shipped inside the package, served at / and /static/.
Nothing is fetched from elsewhere at run time and there is no build step."""

from pathlib import Path

from aiohttp import web

from server.middleware import public

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# The client's own page may talk to its own origin only.
CLIENT_CSP = "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'"

routes = web.RouteTableDef()


@routes.get("/")
@routes.get(r"/c/{conversation_id:\d+}")  # a deep link to a conversation: the client opens it
@public
async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Content-Security-Policy": CLIENT_CSP, "Cache-Control": "no-cache"})


def add_static(app: web.Application) -> None:
    # An application of its own, so that its response hook runs for its files only: every
    # response of the main application, each socket's handshake included, skips it.
    static = web.Application()
    static.router.add_static("/", STATIC_DIR)
    static.on_response_prepare.append(_revalidate_static)
    app.add_subapp("/static/", static)


async def _revalidate_static(request: web.Request, response: web.StreamResponse) -> None:
    """The client's modules change with every upgrade; browsers must not guess a lifetime for them."""
    response.headers["Cache-Control"] = "no-cache"
