"""REST routes of plugins (issue 17 part 4): served under /api/plugins/<prefix>/ with the
server's own auth, envelope and error mapping, cut off by the plugin timeout, and listed in
the OpenAPI document; a route table named outside the plugin's prefix stops startup."""

import asyncio
import logging

import pytest
from marshmallow import Schema, fields, validate
from openapi_spec_validator import validate as validate_openapi

from handlers.api import Forbidden, PluginRequest, PluginRoutes, Reply, RequestContext
from handlers.naming import NamingError
from handlers.registry import registry_from_settings
from handlers.routes import NamedRoutes
from server.app import create_app
from tests.chat import UserFactory

routes = PluginRoutes()


class Conversation(Schema):
    conversation_id = fields.Integer(required=True)
    name = fields.String(allow_none=True)
    asked_by = fields.Integer(required=True)


class EchoBody(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=20))


class SearchQuery(Schema):
    q = fields.String(required=True)
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))


@routes.get("/conversations/{conversation_id}", summary="A conversation the caller is in", response=Conversation, errors=(404,))
async def conversation(ctx: RequestContext, request: PluginRequest) -> dict:
    vo = await ctx.services.conversations.get(ctx.user_id, request.path["conversation_id"])  # 404 unless a member
    return {"conversation_id": vo["id"], "name": vo["name"], "asked_by": ctx.user_id}


@routes.post("/echo", summary="Echo", body=EchoBody, status=201, errors=(422,))
async def echo(ctx: RequestContext, request: PluginRequest) -> dict:
    return {"text": request.body["text"], "user_id": ctx.user_id}


@routes.get("/search", summary="Search", query=SearchQuery, response=Conversation(many=True), errors=(422,))
async def search(ctx: RequestContext, request: PluginRequest) -> Reply:
    return Reply({"q": request.query["q"], "limit": request.query["limit"]}, code=200)


@routes.get("/words/{word}", summary="A word", public=True)
async def word(ctx: RequestContext, request: PluginRequest) -> dict:
    return {"word": request.path["word"], "user_id": ctx.user_id}


@routes.delete("/forbidden", summary="Always refused", errors=(403,))
async def forbidden(ctx: RequestContext, request: PluginRequest) -> None:
    raise Forbidden("not you")


@routes.get("/boom", summary="A bug")
async def boom(ctx: RequestContext, request: PluginRequest) -> None:
    raise RuntimeError("route bug")


@routes.post("/say", summary="Logs a line")
async def say(ctx: RequestContext, request: PluginRequest) -> None:
    ctx.logger.warning("acme route says hello")


@routes.get("/slow", summary="Too slow")
async def slow(ctx: RequestContext, request: PluginRequest) -> None:
    await asyncio.sleep(30)


@pytest.fixture
async def acme(aiohttp_client, settings, engine):
    return await aiohttp_client(create_app(settings.replace(plugin_timeout_seconds=0.5), plugin_routes=[NamedRoutes("acme", "acme-plugin", routes)]))


async def test_a_plugin_route_answers_in_the_envelope_behind_the_bearer_token(acme):
    factory = UserFactory(acme)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id]})
    status, body = await bob.call("GET", f"/api/plugins/acme/conversations/{group['id']}")
    assert (status, body) == (200, {"code": 200, "message": "ok", "data": {"conversation_id": group["id"], "name": "g", "asked_by": bob.id}})
    response = await acme.get(f"/api/plugins/acme/conversations/{group['id']}")
    assert response.status == 401 and (await response.json())["code"] == 401
    response = await acme.get(f"/api/plugins/acme/conversations/{group['id']}", headers={"Authorization": "Bearer nonsense"})
    assert response.status == 401
    status, body = await alice.call("POST", "/api/plugins/acme/echo", json={"text": "hi"})
    assert (status, body["data"]) == (201, {"text": "hi", "user_id": alice.id})
    status, body = await alice.call("GET", "/api/plugins/acme/search", params={"q": "x", "limit": "5"})
    assert (status, body["data"]) == (200, {"q": "x", "limit": 5})
    response = await acme.get("/api/plugins/acme/words/hello")
    assert (await response.json())["data"] == {"word": "hello", "user_id": None}


async def test_a_plugin_route_refuses_as_the_servers_routes_do(acme):
    factory = UserFactory(acme)
    alice, bob, carol = await factory.make("alice"), await factory.make("bob"), await factory.make("carol")
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id]})
    # A non-member, an ex-member, an unknown id and a non-id all get 404 alike.
    await alice.call("DELETE", f"/api/conversations/{group['id']}/members/{bob.id}")
    for who, path in ((carol, group["id"]), (bob, group["id"]), (alice, 999999), (alice, "abc"), (alice, "-1")):
        status, body = await who.call("GET", f"/api/plugins/acme/conversations/{path}")
        assert (status, body["code"]) == (404, 404), (who.username, path)
    status, body = await alice.call("POST", "/api/plugins/acme/echo", json={"text": ""})
    assert status == 422 and "text" in body["data"]["errors"]
    response = await acme.post("/api/plugins/acme/echo", data=b"{not json", headers={**alice.auth, "Content-Type": "application/json"})
    assert response.status == 400 and (await response.json())["code"] == 400
    status, body = await alice.call("POST", "/api/plugins/acme/echo", json=[1])
    assert status == 400
    status, body = await alice.call("GET", "/api/plugins/acme/search", params={"limit": "x"})
    assert status == 422 and set(body["data"]["errors"]) == {"q", "limit"}
    assert (await alice.call("DELETE", "/api/plugins/acme/forbidden"))[1] == {"code": 403, "message": "not you", "data": None}
    assert (await alice.call("GET", "/api/plugins/acme/forbidden"))[0] == 405
    assert (await alice.call("GET", "/api/plugins/acme/nothing"))[0] == 404
    assert (await alice.call("GET", "/api/plugins/other/echo"))[0] == 404


async def test_a_failing_or_slow_route_is_a_500_or_504_logged_with_its_plugin(acme, caplog):
    alice = await UserFactory(acme).make("alice")
    with caplog.at_level(logging.ERROR, logger="server.plugin_routes"):
        status, body = await alice.call("GET", "/api/plugins/acme/boom")
        assert status == 500 and "route bug" not in body["message"]
        status, body = await alice.call("GET", "/api/plugins/acme/slow")
        assert (status, body["code"]) == (504, 504)
    lines = [record.getMessage() for record in caplog.records if record.name == "server.plugin_routes"]
    assert any("GET /boom" in line and "acme-plugin" in line and "failed" in line for line in lines)
    assert any("GET /slow" in line and "acme-plugin" in line and "timed out" in line for line in lines)
    assert (await alice.call("POST", "/api/plugins/acme/echo", json={"text": "still here"}))[0] == 201


async def test_a_route_logs_under_its_plugins_name(acme, caplog):
    alice = await UserFactory(acme).make("alice")
    with caplog.at_level(logging.WARNING):
        assert (await acme.post("/api/plugins/acme/say", headers=alice.auth)).status == 200
    said = [record for record in caplog.records if record.getMessage() == "acme route says hello"]
    assert [record.name for record in said] == ["hubbub.plugins.acme-plugin"]


async def test_plugin_routes_are_in_the_openapi_document(acme):
    document = await (await acme.get("/api/openapi.json")).json()
    validate_openapi(document)  # still a valid OpenAPI document with the plugin's routes in it
    operation = document["paths"]["/api/plugins/acme/conversations/{conversation_id}"]["get"]
    assert "plugin acme, from acme-plugin" in operation["summary"]
    assert operation["security"] == [{"bearer": []}]
    assert operation["parameters"] == [{"in": "path", "name": "conversation_id", "required": True, "schema": {"type": "integer"}}]
    assert {"200", "401", "404"} <= set(operation["responses"])
    data = operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]
    assert data == {"$ref": "#/components/schemas/Conversation"}
    assert set(document["components"]["schemas"]["Conversation"]["properties"]) == {"conversation_id", "name", "asked_by"}
    echo_operation = document["paths"]["/api/plugins/acme/echo"]["post"]
    assert "201" in echo_operation["responses"] and "422" in echo_operation["responses"] and "requestBody" in echo_operation
    words = document["paths"]["/api/plugins/acme/words/{word}"]["get"]
    assert "security" not in words and words["parameters"][0]["schema"] == {"type": "string"}
    listed = document["paths"]["/api/plugins/acme/search"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"]
    assert listed["type"] == "array"


def test_route_tables_carry_the_plugins_prefix(settings):
    with pytest.raises(NamingError, match="server's own prefix 'message'"):
        create_app(settings, plugin_routes=[NamedRoutes("message", "acme-plugin", routes)])
    registry = registry_from_settings(settings)
    from tests.test_plugin_names import handler

    registry.add(handler("pins.pin"), origin="acme-plugin")
    with pytest.raises(NamingError, match="one plugin, one prefix"):
        create_app(settings, registry=registry, plugin_routes=[NamedRoutes("acme", "acme-plugin", routes)])
    with pytest.raises(NamingError, match="prefix 'pins' of acme-plugin"):
        create_app(settings, registry=registry, plugin_routes=[NamedRoutes("pins", "other-plugin", routes)])


def test_a_bad_route_is_refused_where_it_is_declared():
    with pytest.raises(ValueError):
        PluginRoutes().route("TRACE", "/x", summary="x")
    with pytest.raises(ValueError):
        PluginRoutes().get("no-slash", summary="x")


def test_the_startup_line_names_a_plugin_that_has_only_routes(settings):
    from server.cli import serving_line

    app = create_app(settings, plugin_routes=[NamedRoutes("acme", "acme-plugin", routes)])
    assert serving_line(app, settings).endswith("plugins acme-plugin")
