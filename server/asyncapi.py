"""GET /api/asyncapi.json: an AsyncAPI 3.0 document of the socket protocol (PROTOCOL §4), built
at run time from what this server has: every frame type of the handler registry (built-in and
plugin) with the schema its `data` is validated with and what its reply carries, and every
event it pushes (handlers.events, and those plugin handlers declare). The document describes
the server: it receives the frames (each with its reply) and sends the events.

Schemas are converted by apispec's MarshmallowPlugin, as for the OpenAPI document, into
`components.schemas`: JSON Schema, which the AsyncAPI schema format accepts as it is."""

import inspect
import sys

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import make_schema_key, resolve_schema_instance
from marshmallow import Schema

from handlers.events import EVENTS
from handlers.registry import HandlerRegistry
from server.openapi import RESPONSE_OBJECTS, contract_object

CHANNEL = "socket"
_CHANNEL_REF = {"$ref": f"#/channels/{CHANNEL}"}
_FRAME_ID = {"type": ["string", "integer"], "description": "echoed in the reply"}


def build_asyncapi(registry: HandlerRegistry, host: str, secure: bool) -> dict:
    """The document for a server reached at `host` (the request's Host), over TLS when `secure`."""
    spec = APISpec(title="Hubbub socket", version="1", openapi_version="3.1.0", plugins=[MarshmallowPlugin()])
    for name, schema in RESPONSE_OBJECTS.items():
        spec.components.schema(name, schema=schema)
    messages: dict[str, dict] = {}
    operations: dict[str, dict] = {}

    for registered in registry.handlers():
        handler = type(registered.handler)
        frame, reply = f"frame.{handler.type}", f"reply.{handler.type}"
        data = _ref(_register(spec, handler.schema, frame))
        messages[frame] = _message(frame, _frame_payload(handler.type, data), f"The client's `{handler.type}` frame.")
        messages[reply] = _message(reply, _reply_payload(_reply_data(spec, handler, reply)), f"The reply to a `{handler.type}` frame.")
        operations[frame] = {
            "action": "receive",
            "channel": _CHANNEL_REF,
            "summary": _summary(handler),
            "messages": [_message_ref(frame)],
            "reply": {"channel": _CHANNEL_REF, "messages": [_message_ref(reply)]},
            "x-origin": registered.origin,
        }

    for name, (summary, data, origin) in sorted(_events(spec, registry).items()):
        event = f"event.{name}"
        messages[event] = _message(event, {
            "type": "object",
            "required": ["type", "data"],
            "properties": {"type": {"const": name}, "data": data},
        }, summary)
        operations[event] = {"action": "send", "channel": _CHANNEL_REF, "summary": summary, "messages": [_message_ref(event)], "x-origin": origin}

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Hubbub socket protocol",
            "version": "1",
            "description": (
                "One WebSocket per client at /ws (PROTOCOL.md §4). Every client frame gets exactly one reply, in "
                "order; pushed events carry no id. Errors are replies with the REST codes (PROTOCOL.md §1)."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "hubbub": {
                "host": host,
                "protocol": "wss" if secure else "ws",
                "pathname": "/ws",
                "security": [{"$ref": "#/components/securitySchemes/token"}],
            }
        },
        "channels": {
            CHANNEL: {
                "address": "/ws",
                "title": "The socket",
                "messages": messages,
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {"type": "object", "properties": {"token": {"type": "string", "description": "instead of the Authorization header"}}},
                    }
                },
            }
        },
        "operations": operations,
        "components": {
            "schemas": spec.to_dict()["components"]["schemas"],
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", "description": "from POST /api/auth/login, or ?token="}
            },
        },
    }


def _events(spec: APISpec, registry: HandlerRegistry) -> dict[str, tuple[str, dict, str]]:
    """name → (summary, data schema, origin) of the server's events and the plugins' own."""
    events = {name: (event.summary, _object(spec, event.payload, f"event.{name}"), "hubbub") for name, event in EVENTS.items()}
    for registered in registry.handlers():
        for name, schema in type(registered.handler).events.items():
            events.setdefault(name, (f"Pushed by the `{registered.handler.type}` frame type's handler.", _object(spec, schema, f"event.{name}"), registered.origin))
    return events


def _reply_data(spec: APISpec, handler: type, name: str) -> dict:
    if handler.reply is None:
        return {"description": "not described by the handler"}
    return _object(spec, handler.reply, name)


def _object(spec: APISpec, payload: type[Schema] | str, name: str) -> dict:
    """A schema (registered as `name` unless it already is, under another name: two events
    may share one), or a contract object's name: "MessageVO", "[MessageVO]", "null", or
    "[MessageVO] | HistoryPageVO" (one or the other)."""
    if not isinstance(payload, str):
        return _ref(_register(spec, payload, name))
    if payload == "null":
        return {"type": "null"}
    return contract_object(payload)


def _register(spec: APISpec, schema: type[Schema], name: str) -> str:
    """The component name of `schema`: `name`, or the one it was registered under before."""
    known = spec.plugins[0].converter.refs.get(make_schema_key(resolve_schema_instance(schema)))
    if known is None:
        spec.components.schema(name, schema=schema)
    return known or name


def _frame_payload(type_name: str, data: dict) -> dict:
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"const": type_name}, "id": _FRAME_ID, "data": {**data, "description": "absent means {}"}},
    }


def _reply_payload(data: dict) -> dict:
    return {
        "type": "object",
        "required": ["type", "id", "code", "message", "data"],
        "properties": {
            "type": {"const": "reply"},
            "id": {"type": ["string", "integer", "null"], "description": "the frame's id; null when none could be read"},
            "code": {"type": "integer", "description": "200 or 201 on success, else an error code of PROTOCOL.md §1"},
            "message": {"type": "string"},
            "data": {"description": "on success; an error's data otherwise (422: field errors, 429/503: retry_after_ms)", "oneOf": [data, {"type": ["object", "null"]}]},
        },
    }


def _message(name: str, payload: dict, summary: str) -> dict:
    return {"name": name, "summary": summary, "payload": payload}


def _message_ref(name: str) -> dict:
    return {"$ref": f"#/channels/{CHANNEL}/messages/{name}"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _summary(handler: type) -> str:
    """The handler's docstring, or its module's (the built-ins document their module)."""
    doc = inspect.getdoc(handler) if handler.__doc__ else sys.modules[handler.__module__].__doc__
    return (doc or handler.type).strip().split("\n\n")[0].replace("\n", " ")
