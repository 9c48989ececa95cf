"""GET /docs: a page that shows the OpenAPI and AsyncAPI documents of this very server, made of
files shipped in the package (no CDN: it works on a machine without internet)."""

from pathlib import Path

from aiohttp import web

from server.middleware import public

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"
DOCS_CSP = "default-src 'self'; connect-src 'self'; style-src 'self'; script-src 'self'; img-src 'self'; frame-ancestors 'none'"

routes = web.RouteTableDef()


@routes.get("/docs")
@public
async def docs(request: web.Request) -> web.FileResponse:
    return web.FileResponse(DOCS_DIR / "index.html", headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"})


def add_static(app: web.Application) -> None:
    app.router.add_static("/docs/", DOCS_DIR, name="docs")
