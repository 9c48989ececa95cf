"""/api/asyncapi.json (issue #16 part 2): an AsyncAPI 3.0 document of the socket, generated from
the handler registry and the event catalog (handlers/events.py), valid against the AsyncAPI 3.0
JSON Schema; and /docs, the page that shows it with the OpenAPI document, served by the app."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import jsonschema
import pytest
from marshmallow import Schema, fields

import handlers.events
from handlers.base import Context, Handler
from handlers.events import EVENTS
from handlers.registry import registry_from_settings
from server.app import create_app

ROOT = Path(__file__).resolve().parent.parent
ASYNCAPI_SCHEMA = Path(__file__).with_name("asyncapi") / "asyncapi-3.0.0.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))


async def document(client) -> dict:
    response = await client.get("/api/asyncapi.json", headers={"Authorization": "Bearer nonsense"})
    assert response.status == 200 and response.content_type == "application/json"
    return await response.json()


class PinSchema(Schema):
    message_id = fields.Integer(required=True)


class PinReply(Schema):
    pinned = fields.Boolean(required=True)


class PinEvent(Schema):
    message_id = fields.Integer(required=True)


class PinHandler(Handler):
    """Pin a message (a plugin's frame type)."""

    type = "pins.pin"
    schema = PinSchema
    reply = PinReply
    events = {"pins.changed": PinEvent}

    async def handle(self, ctx: Context, data: dict) -> dict:
        return {"pinned": True}


async def test_the_document_is_valid_asyncapi_3_and_needs_no_token(client, validator):
    doc = await document(client)
    assert doc["asyncapi"] == "3.0.0"
    errors = sorted(validator.iter_errors(doc), key=str)
    assert errors == [], [f"{list(error.absolute_path)}: {error.message[:200]}" for error in errors[:5]]
    assert doc["servers"]["hubbub"]["host"] == f"{client.host}:{client.port}" and doc["servers"]["hubbub"]["pathname"] == "/ws"


async def test_every_frame_type_has_its_validating_schema_and_its_reply(client, settings):
    doc = await document(client)
    schemas, messages, operations = doc["components"]["schemas"], doc["channels"]["socket"]["messages"], doc["operations"]
    for type_name in registry_from_settings(settings).types():
        operation = operations[f"frame.{type_name}"]
        assert operation["action"] == "receive" and operation["x-origin"] == "hubbub"
        frame = messages[f"frame.{type_name}"]["payload"]
        assert frame["properties"]["type"] == {"const": type_name}
        assert operation["reply"]["messages"] == [{"$ref": f"#/channels/socket/messages/reply.{type_name}"}]
    # The schema the server validates send_message with: required content, no unknown fields.
    send = schemas["frame.send_message"]
    assert send["required"] == ["content"] and send["additionalProperties"] is False
    assert send["properties"]["msg_type"]["enum"] == [1, 2, 3]
    reply = messages["reply.send_message"]["payload"]["properties"]["data"]["oneOf"][0]
    assert reply == {"$ref": "#/components/schemas/MessageVO"}
    # The plain list, or {messages, notices} when the frame asks `with_notices`.
    assert messages["reply.history"]["payload"]["properties"]["data"]["oneOf"][0] == {
        "oneOf": [{"type": "array", "items": {"$ref": "#/components/schemas/MessageVO"}}, {"$ref": "#/components/schemas/HistoryPageVO"}]
    }
    assert set(schemas["HistoryPageVO"]["properties"]) == {"messages", "notices"}
    assert schemas["NoticeVO"]["properties"]["after_seq"]["type"] == "integer"
    assert schemas["reply.ping"]["required"] == ["ts"]


async def test_every_event_of_the_catalog_is_sent_with_its_payload(client):
    doc = await document(client)
    messages, operations = doc["channels"]["socket"]["messages"], doc["operations"]
    sent = {op["messages"][0]["$ref"].rsplit("/", 1)[1] for op in operations.values() if op["action"] == "send"}
    assert sent == {f"event.{name}" for name in EVENTS}
    assert messages["event.message.new"]["payload"]["properties"]["data"] == {"$ref": "#/components/schemas/MessageVO"}
    read = doc["components"]["schemas"]["event.message.read"]
    assert sorted(read["required"]) == ["conversation_id", "last_read_seq", "user_id"]
    assert messages["event.presence"]["payload"]["properties"]["type"] == {"const": "presence"}


async def test_a_plugin_s_frame_type_reply_and_events_are_in_the_document(settings, engine, aiohttp_client, validator):
    registry = registry_from_settings(settings)
    registry.add(PinHandler, origin="acme-pins")
    client = await aiohttp_client(create_app(settings, registry=registry))
    doc = await document(client)
    assert list(validator.iter_errors(doc)) == []
    operation = doc["operations"]["frame.pins.pin"]
    assert operation["x-origin"] == "acme-pins" and operation["summary"] == "Pin a message (a plugin's frame type)."
    assert doc["components"]["schemas"]["frame.pins.pin"]["required"] == ["message_id"]
    assert doc["components"]["schemas"]["reply.pins.pin"]["required"] == ["pinned"]
    assert doc["operations"]["event.pins.changed"]["x-origin"] == "acme-pins"


def _pushed_event_names() -> set[str]:
    """Every event name the server's code pushes: the argument of to_users, push_views,
    push_to_users and push (a literal, or a constant of handlers.events), and the first item of
    an OrderedPush's (event, data) pairs."""
    constants = {name: value for name, value in vars(handlers.events).items() if name.isupper() and isinstance(value, str)}
    found: set[str] = set()

    def name_of(node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)
        elif isinstance(node, ast.Name) and node.id in constants:
            found.add(constants[node.id])

    for path in [*ROOT.glob("handlers/**/*.py"), *ROOT.glob("server/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and len(node.args) >= 2:
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
                if called in ("to_users", "push_views", "push_to_users", "push"):
                    name_of(node.args[1])
            elif isinstance(node, ast.Tuple) and len(node.elts) == 2 and isinstance(node.elts[0], ast.Name) and node.elts[0].id in constants:
                name_of(node.elts[0])
    return found


def test_the_code_pushes_only_events_of_the_catalog_and_protocol_md_names_them_all():
    pushed = _pushed_event_names()
    assert pushed - set(EVENTS) == set(), "pushed but missing from handlers/events.py"
    assert set(EVENTS) - pushed == set(), "in the catalog but never pushed"
    protocol = (ROOT / "PROTOCOL.md").read_text()
    assert [name for name in EVENTS if f"`{name}" not in protocol] == []


async def test_the_docs_page_is_served_by_the_app_with_nothing_from_elsewhere(client):
    response = await client.get("/docs")
    assert response.status == 200 and "script-src 'self'" in response.headers["Content-Security-Policy"]
    page = await response.text()
    assets = re.findall(r'(?:src|href)="(/docs/[^"]+)"', page)
    assert sorted(assets) == ["/docs/docs.css", "/docs/docs.js"]
    for asset in assets:
        response = await client.get(asset)
        assert response.status == 200
        assert not re.search(r"https?://", await response.text()), asset
    assert "/api/openapi.json" in page and "/api/asyncapi.json" in page
