"""The REST envelope `{"code", "message", "data"}` (PROTOCOL §1), and reading request bodies
into it: every way a body can be wrong ends as one of the contract's codes."""

import re
from typing import Any

from aiohttp import web
from marshmallow import Schema, fields

from handlers.errors import BadRequest, HubbubError
from server.json import JSONDecodeError, dumps_bytes, loads

# At most 19 digits: a BIGINT's, and far below the length at which int() refuses to convert.
_DECIMAL_INTEGER = re.compile(r"-?[0-9]{1,19}")


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
    """The query string, loaded by `schema` as a JSON body would be. Its values are all text, so
    a field that takes an integer gets one when the text is a plain decimal integer; any other
    text (" 10", "1_0", "10.0", which int() would read) stays text for the field to refuse."""
    integer_fields = {field.data_key or name for name, field in schema.load_fields.items() if isinstance(field, fields.Integer)}
    query = {}
    for key, value in dict(request.query).items():
        query[key] = int(value) if key in integer_fields and _DECIMAL_INTEGER.fullmatch(value) else value
    return schema.load(query)
