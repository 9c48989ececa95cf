"""GET /api/openapi.json: an OpenAPI 3.1 document built by apispec from the routes the app
actually has and the marshmallow schemas their views validate with."""

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema, fields

from handlers.errors import BAD_REQUEST, INTERNAL_ERROR, PAYLOAD_TOO_LARGE, SERVICE_UNAVAILABLE, TOO_MANY_REQUESTS, UNAUTHORIZED, UNPROCESSABLE

API_DOC_ATTRIBUTE = "api_doc"


@dataclass(frozen=True)
class ApiDoc:
    summary: str
    body: type[Schema] | None = None
    query: type[Schema] | None = None
    response: str | None = None  # a name from RESPONSE_OBJECTS, "[Name]" for a list
    status: int = 200
    errors: tuple[int, ...] = field(default_factory=tuple)


def documented(summary: str, *, body=None, query=None, response=None, status=200, errors=()) -> Callable:
    def mark(view):
        setattr(view, API_DOC_ATTRIBUTE, ApiDoc(summary, body, query, response, status, tuple(errors)))
        return view

    return mark


class UserVO(Schema):
    id = fields.Integer()
    username = fields.String()
    nickname = fields.String(allow_none=True)
    avatar = fields.String(allow_none=True)
    online = fields.Boolean()


class MeVO(UserVO):
    email = fields.String()
    status = fields.Integer()
    created_at = fields.Integer(metadata={"description": "ms since the epoch"})


class LoginVO(Schema):
    token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    user = fields.Nested(MeVO)


class QuoteVO(Schema):
    id = fields.Integer()
    seq = fields.Integer()
    sender_id = fields.Integer()
    msg_type = fields.Integer()
    status = fields.Integer(metadata={"description": "3: recalled, and the preview is empty"})
    preview = fields.String(metadata={"description": "the first 100 characters of a text, a file's name"})


class ReactionVO(Schema):
    emoji = fields.String()
    count = fields.Integer(metadata={"description": "how many users reacted with it"})
    user_ids = fields.List(fields.Integer(), metadata={"description": "the first 10 of them, in the order they reacted"})
    me = fields.Boolean(metadata={"description": "whether the caller reacted with it; only in history pages and reaction answers"})


class MessageVO(Schema):
    id = fields.Integer()
    conversation_id = fields.Integer()
    seq = fields.Integer()
    sender_id = fields.Integer()
    receiver_id = fields.Integer(allow_none=True)
    content = fields.String()
    msg_type = fields.Integer()
    status = fields.Integer()
    client_msg_id = fields.String(allow_none=True)
    created_at = fields.Integer()
    edited_at = fields.Integer(allow_none=True, metadata={"description": "when the content was last edited; null if never"})
    change_seq = fields.Integer(metadata={"description": "the conversation's change seq of the latest edit or recall; 0 if none"})
    reply_to = fields.Nested(QuoteVO, allow_none=True, metadata={"description": "the message this one replies to, as it is now"})
    reactions = fields.List(fields.Nested(ReactionVO), metadata={"description": "emoji in the order first used; none once recalled"})
    mentions = fields.List(fields.Integer(), metadata={"description": "ids of the members it mentions (resolved when sent); none once recalled"})


class MessageVersionVO(Schema):
    version = fields.Integer(metadata={"description": "1 is the original"})
    content = fields.String()
    created_at = fields.Integer(metadata={"description": "when this version was written"})


class ConversationVO(Schema):
    id = fields.Integer()
    type = fields.String()
    name = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    peer = fields.Nested(UserVO, allow_none=True)
    last_seq = fields.Integer()
    last_read_seq = fields.Integer()
    unread_count = fields.Integer()
    mention_count = fields.Integer(metadata={"description": "messages past the caller's read marker that mention it, not recalled"})
    last_message = fields.Nested(MessageVO, allow_none=True)
    recall_window_seconds = fields.Integer()
    edit_window_seconds = fields.Integer()
    mentions_all = fields.Boolean(metadata={"description": "true: every member may mention @all; false: the owner only"})
    last_change_seq = fields.Integer(metadata={"description": "the latest change seq: catch up with history changed_after"})
    muted = fields.Boolean(metadata={"description": "the caller muted it"})
    pinned = fields.Boolean(metadata={"description": "the caller pinned it to the top of its list"})
    archived = fields.Boolean(metadata={"description": "the caller archived it and no message arrived since"})
    created_at = fields.Integer()
    updated_at = fields.Integer()
    members = fields.List(fields.Nested(UserVO))


class ReadMarkerVO(Schema):
    conversation_id = fields.Integer()
    last_read_seq = fields.Integer()
    unread_count = fields.Integer()


class FileVO(Schema):
    id = fields.Integer()
    name = fields.String()
    size = fields.Integer()
    mime = fields.String()
    url = fields.String()
    created_at = fields.Integer()


class LiveVO(Schema):
    status = fields.String(metadata={"description": "always ok"})


class ReadyVO(Schema):
    database = fields.String(metadata={"description": "ok: a fresh connection answered"})
    schema = fields.String(metadata={"description": "ok: the schema is at the newest revision"})
    bus = fields.String(metadata={"description": "only in a cluster: ok, or degraded while NATS is away"})


RESPONSE_OBJECTS = {schema.__name__: schema for schema in (UserVO, MeVO, LoginVO, MessageVO, MessageVersionVO, ConversationVO, ReadMarkerVO, FileVO, LiveVO, ReadyVO)}


def build_spec(app: web.Application) -> dict:
    spec = APISpec(title="Hubbub", version="1", openapi_version="3.1.0", plugins=[MarshmallowPlugin()])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    for name, schema in RESPONSE_OBJECTS.items():
        spec.components.schema(name, schema=schema)
    for name, component in ERROR_DATA.items():
        spec.components.schema(name, component=component)
    paths: dict[str, dict] = {}
    for route in app.router.routes():
        doc = getattr(route.handler, API_DOC_ATTRIBUTE, None)
        if doc is None or route.method == "HEAD":
            continue
        path = route.resource.canonical
        paths.setdefault(path, {})[route.method.lower()] = _operation(doc, route.handler, path)
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()


# Path parameters that are not ids.
PATH_PARAMETERS = {"emoji": {"type": "string", "description": "one emoji, percent-encoded"}}


def _operation(doc: ApiDoc, view, path: str) -> dict:
    operation: dict = {"summary": doc.summary, "responses": {}}
    if not getattr(view, "is_public", False):
        operation["security"] = [{"bearer": []}]
    parameters = [{"in": "path", "name": name, "required": True, "schema": PATH_PARAMETERS.get(name, {"type": "integer"})} for name in _path_names(path)]
    if doc.query is not None:
        parameters.append({"in": "query", "schema": doc.query})
    if parameters:
        operation["parameters"] = parameters
    if doc.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": doc.body}}}
    operation["responses"][str(doc.status)] = {"description": "ok", "content": {"application/json": {"schema": _envelope(doc.response)}}}
    codes = {BAD_REQUEST, INTERNAL_ERROR, PAYLOAD_TOO_LARGE, SERVICE_UNAVAILABLE, *doc.errors}
    if "security" in operation:
        codes.add(UNAUTHORIZED)
    if doc.body is not None:
        codes.add(PAYLOAD_TOO_LARGE)  # any JSON body over the server's limit
    for code in sorted(codes):
        operation["responses"][str(code)] = _error_response(code)
    return operation


# What `data` holds in an error envelope (PROTOCOL §1): the field errors of a 422, when to retry
# a 429 or 503; other errors carry null or a small object of details (a 409's taken fields).
ERROR_DATA = {
    "ValidationErrors": {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "object",
                "description": "field name → reasons",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            }
        },
    },
    "RetryAfter": {
        "type": "object",
        "required": ["retry_after_ms"],
        "properties": {"retry_after_ms": {"type": "integer", "description": "milliseconds to wait before retrying"}},
    },
}
_ERROR_DATA_BY_CODE = {UNPROCESSABLE: "ValidationErrors", TOO_MANY_REQUESTS: "RetryAfter", SERVICE_UNAVAILABLE: "RetryAfter"}


def _error_response(code: int) -> dict:
    name = _ERROR_DATA_BY_CODE.get(code)
    data = {"$ref": f"#/components/schemas/{name}"} if name else {"type": ["object", "null"]}
    response: dict = {"description": "error", "content": {"application/json": {"schema": _envelope_of(data)}}}
    if name == "RetryAfter":
        response["headers"] = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
    return response


def _envelope(response: str | None) -> dict:
    if response is None:
        data = {"type": "null"}
    elif response.startswith("["):
        data = {"type": "array", "items": {"$ref": f"#/components/schemas/{response.strip('[]')}"}}
    else:
        data = {"$ref": f"#/components/schemas/{response}"}
    return _envelope_of(data)


def _envelope_of(data: dict) -> dict:
    return {
        "type": "object",
        "required": ["code", "message", "data"],
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": data},
    }


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
