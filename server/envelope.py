"""The REST envelope `{"code", "message", "data"}` (PROTOCOL §1), and reading request bodies
into it: every way a body can be wrong ends as one of the contract's codes."""

from typing import Any

from aiohttp import web
from marshmallow import Schema

from handlers.errors import BadRequest, HubbubError
from server.json import JSONDecodeError, dumps_bytes, loads


def envelope(data: Any = None, *, code: int = 200, message: str = "ok", headers: dict[str, str] | None = None) -> web.Response:
    body = dumps_bytes({"code": code, "message": message, "data": data})
    return web.Response(body=body, status=code, content_type="application/json", charset="utf-8", headers=headers)


def error_envelope(error: HubbubError) -> web.Response:
    headers = None
    retry_after = getattr(error, "retry_after_seconds", None)
    if retry_after is not None:
        headers = {"Retry-After": str(max(1, int(retry_after + 0.999)))}
    return envelope(error.data, code=error.code, message=error.message, headers=headers)


async def read_json(request: web.Request, schema: Schema) -> dict:
    """The body, loaded by `schema`: 400 when it is not a JSON object, 422 when invalid."""
    if request.content_type != "application/json":
        raise BadRequest("Content-Type must be application/json")
    raw = await request.read()
    try:
        body = loads(raw) if raw else None
    except JSONDecodeError:
        raise BadRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return schema.load(body)


def read_query(request: web.Request, schema: Schema) -> dict:
    return schema.load(dict(request.query))
