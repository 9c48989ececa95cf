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
    # An error's `data` when it may be more than null: {status: a name from ERROR_DATA}.
    error_data: dict[int, str] = field(default_factory=dict)


def documented(summary: str, *, body=None, query=None, response=None, status=200, errors=(), error_data=None) -> Callable:
    def mark(view):
        setattr(view, API_DOC_ATTRIBUTE, ApiDoc(summary, body, query, response, status, tuple(errors), dict(error_data or {})))
        return view

    return mark


class UserVO(Schema):
    id = fields.Integer()
    username = fields.String()
    nickname = fields.String(allow_none=True)
    avatar = fields.String(allow_none=True)
    online = fields.Boolean(metadata={"description": "has an open socket; always false to a user this one blocked (PROTOCOL §2, Presence and blocks)"})


class MemberVO(UserVO):
    role = fields.String(metadata={"description": "owner, admin or member (both members of a direct conversation: member)"})


class MeVO(UserVO):
    email = fields.String()
    status = fields.Integer()
    created_at = fields.Integer(metadata={"description": "ms since the epoch"})


class TokenVO(Schema):
    token = fields.String(metadata={"description": "the access token, of the session"})
    token_type = fields.String()
    expires_in = fields.Integer(metadata={"description": "seconds the access token is valid"})
    refresh_token = fields.String(metadata={"description": "shown once; POST /api/auth/refresh takes it once"})
    refresh_expires_in = fields.Integer(metadata={"description": "seconds the session lasts unless refreshed"})
    session_id = fields.Integer()


class LoginVO(TokenVO):
    user = fields.Nested(MeVO)


class BlockedUserVO(UserVO):
    blocked_at = fields.Integer(metadata={"description": "ms since the epoch"})


class TwoFactorStatusVO(Schema):
    enabled = fields.Boolean()
    recovery_codes_left = fields.Integer()


class TwoFactorEnrolmentVO(Schema):
    secret = fields.String(metadata={"description": "base32, for typing into an authenticator app; shown this once"})
    otpauth_uri = fields.String()
    qr_svg = fields.String(metadata={"description": "the URI as a QR code: an SVG data: URI drawn by the server"})


class RecoveryCodesVO(Schema):
    recovery_codes = fields.List(fields.String(), metadata={"description": "each works once in place of a code; shown this once"})


class SessionVO(Schema):
    id = fields.Integer()
    device = fields.String(metadata={"description": "the label given at login, else the User-Agent"})
    created_at = fields.Integer(metadata={"description": "ms since the epoch: the login"})
    last_seen_at = fields.Integer(metadata={"description": "ms since the epoch, written at most every session_seen_every_seconds"})
    current = fields.Boolean(metadata={"description": "the session of the token that asked"})


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


class ForwardedFromVO(Schema):
    sender_id = fields.Integer(metadata={"description": "who first wrote the forwarded message"})


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
    forwarded_from = fields.Nested(ForwardedFromVO, allow_none=True, metadata={"description": "null, or where a forwarded message came from"})
    recalled_by = fields.Integer(allow_none=True, metadata={"description": "the owner or admin who recalled another member's message; else null"})
    read_count = fields.Integer(
        metadata={"description": "only in history pages, on the caller's own messages in a group: how many other members have read it"}
    )


class SnippetPartVO(Schema):
    text = fields.String(metadata={"description": "plain text: shown as text, never as HTML"})
    match = fields.Boolean(metadata={"description": "whether this part is a word the query matched"})


class SearchHitVO(Schema):
    message = fields.Nested(MessageVO)
    snippet = fields.List(fields.Nested(SnippetPartVO), metadata={"description": "the text (a file's name) around the first match, in order"})


class SearchPageVO(Schema):
    hits = fields.List(fields.Nested(SearchHitVO), metadata={"description": "newest first"})
    next_before = fields.Integer(allow_none=True, metadata={"description": "`before` of the next page; null: this page is the last"})


class NoticeVO(Schema):
    id = fields.Integer()
    conversation_id = fields.Integer()
    after_seq = fields.Integer(metadata={"description": "the conversation's last seq when it happened: it sits after that message and before the next"})
    kind = fields.String(metadata={"description": "created, added, removed, left, renamed, role or owner"})
    actor_id = fields.Integer(metadata={"description": "who did it (for left: the member who left)"})
    subject_id = fields.Integer(allow_none=True, metadata={"description": "the member added, removed, who left, whose role changed, the new owner; null for created and renamed"})
    data = fields.Dict(allow_none=True, metadata={"description": "created, renamed: {name}; role: {role} (admin or member); else null"})
    created_at = fields.Integer(metadata={"description": "ms since the epoch"})


class HistoryPageVO(Schema):
    messages = fields.List(fields.Nested(MessageVO), metadata={"description": "by seq ascending, as without with_notices"})
    notices = fields.List(fields.Nested(NoticeVO), metadata={"description": "the page's notices by after_seq, then id (PROTOCOL §4, notices)"})


class MessageVersionVO(Schema):
    version = fields.Integer(metadata={"description": "1 is the original"})
    content = fields.String()
    created_at = fields.Integer(metadata={"description": "when this version was written"})


class ConversationVO(Schema):
    id = fields.Integer()
    type = fields.String()
    name = fields.String(allow_none=True)
    owner_id = fields.Integer(allow_none=True)
    role = fields.String(metadata={"description": "the caller's role: owner, admin or member"})
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
    members = fields.List(fields.Nested(MemberVO))
    by = fields.Integer(metadata={"description": "only in conversation.created and conversation.updated events: who made the change"})


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


RESPONSE_OBJECTS = {schema.__name__: schema for schema in (UserVO, MemberVO, MeVO, TokenVO, LoginVO, SessionVO, BlockedUserVO, TwoFactorStatusVO, TwoFactorEnrolmentVO, RecoveryCodesVO, MessageVO, NoticeVO, HistoryPageVO, MessageVersionVO, SearchPageVO, ConversationVO, ReadMarkerVO, FileVO, LiveVO, ReadyVO)}


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
    parameters = [{"in": "path", "name": name, "required": True, "schema": PATH_PARAMETERS.get(name, {"type": "integer"} if name == "id" or name.endswith("_id") else {"type": "string"})} for name in _path_names(path)]
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
        operation["responses"][str(code)] = _error_response(code, doc.error_data.get(code))
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
    "TwoFactorChallenge": {
        "type": "object",
        "description": "the password was right and the account has two-factor on: the login goes on at POST /api/auth/login/2fa",
        "required": ["two_factor_required", "challenge", "expires_in"],
        "properties": {
            "two_factor_required": {"const": True},
            "challenge": {"type": "string", "description": "for POST /api/auth/login/2fa, with a TOTP or recovery code"},
            "expires_in": {"type": "integer", "description": "seconds the challenge is valid"},
        },
    },
}
_ERROR_DATA_BY_CODE = {UNPROCESSABLE: "ValidationErrors", TOO_MANY_REQUESTS: "RetryAfter", SERVICE_UNAVAILABLE: "RetryAfter"}


def _error_response(code: int, special: str | None = None) -> dict:
    """`special`: the ERROR_DATA name of a `data` this operation's error may carry, else null."""
    name = _ERROR_DATA_BY_CODE.get(code)
    if special is not None:
        data = {"oneOf": [{"type": "null"}, {"$ref": f"#/components/schemas/{special}"}]}
    elif name:
        data = {"$ref": f"#/components/schemas/{name}"}
    else:
        data = {"type": ["object", "null"]}
    response: dict = {"description": "error", "content": {"application/json": {"schema": _envelope_of(data)}}}
    if name == "RetryAfter":
        response["headers"] = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
    return response


def _envelope(response: str | None) -> dict:
    if response is None:
        data = {"type": "null"}
    elif not isinstance(response, str):  # a plugin route's own schema (server.plugin_routes)
        data = response
    else:
        data = contract_object(response)
    return _envelope_of(data)


def contract_object(response: str) -> dict:
    """The schema of "Name", "[Name]" (a list) or "A | B" (one or the other: an answer whose
    shape a query parameter chooses) of RESPONSE_OBJECTS."""
    if " | " in response:
        return {"oneOf": [contract_object(part) for part in response.split(" | ")]}
    if response.startswith("["):
        return {"type": "array", "items": {"$ref": f"#/components/schemas/{response.strip('[]')}"}}
    return {"$ref": f"#/components/schemas/{response}"}


def _envelope_of(data: dict) -> dict:
    return {
        "type": "object",
        "required": ["code", "message", "data"],
        "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": data},
    }


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]
