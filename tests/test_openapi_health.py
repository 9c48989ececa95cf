"""/healthz (liveness), /readyz (200 with the database at the newest schema, 503 without or while
shutting down) and /api/openapi.json (an OpenAPI 3.1 document
of every REST route the app has, generated from the marshmallow schemas it validates with)."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from openapi_spec_validator import validate

from server.app import create_app
from server.openapi import API_DOC_ATTRIBUTE
from server.keys import READINESS
from server.readiness import Readiness

# PROTOCOL §3, row by row.
CONTRACT_ROUTES = {
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/logout"),
    ("POST", "/api/auth/password"),
    ("POST", "/api/auth/refresh"),
    ("GET", "/api/auth/sessions"),
    ("DELETE", "/api/auth/sessions/{session_id}"),
    ("POST", "/api/auth/logout-all"),
    ("GET", "/api/auth/2fa"),
    ("POST", "/api/auth/2fa/enrol"),
    ("POST", "/api/auth/2fa/confirm"),
    ("POST", "/api/auth/2fa/disable"),
    ("POST", "/api/auth/login/2fa"),
    ("GET", "/api/users/blocked"),
    ("DELETE", "/api/users/me"),
    ("POST", "/api/users/{id}/block"),
    ("DELETE", "/api/users/{id}/block"),
    ("GET", "/api/users/me"),
    ("PATCH", "/api/users/me"),
    ("GET", "/api/users"),
    ("GET", "/api/users/{id}"),
    ("GET", "/api/conversations"),
    ("POST", "/api/conversations"),
    ("GET", "/api/conversations/{id}"),
    ("PATCH", "/api/conversations/{id}"),
    ("DELETE", "/api/conversations/{id}"),
    ("POST", "/api/conversations/{id}/members"),
    ("DELETE", "/api/conversations/{id}/members/{user_id}"),
    ("GET", "/api/conversations/{id}/members"),
    ("GET", "/api/conversations/{id}/messages"),
    ("POST", "/api/conversations/{id}/messages"),
    ("POST", "/api/messages"),
    ("POST", "/api/conversations/{id}/read"),
    ("POST", "/api/messages/{id}/recall"),
    ("POST", "/api/files"),
    ("GET", "/api/files/{id}"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/asyncapi.json"),
    ("PATCH", "/api/messages/{id}"),
    ("GET", "/api/conversations/{id}/messages/{message_id}/edits"),
    ("PUT", "/api/messages/{id}/reactions/{emoji}"),
    ("DELETE", "/api/messages/{id}/reactions/{emoji}"),
    ("PATCH", "/api/conversations/{id}/settings"),
    ("POST", "/api/messages/{id}/forward"),
    ("PATCH", "/api/conversations/{id}/members/{user_id}"),
    ("POST", "/api/conversations/{id}/owner"),
    ("GET", "/api/search"),
    ("GET", "/api/conversations/{id}/messages/{message_id}/readers"),
}
NOT_DOCUMENTED = {"/ws", "/api/openapi.json", "/api/asyncapi.json"}
FOUNDATION_ROUTES = {route for route in CONTRACT_ROUTES if route[1].startswith(("/api/auth", "/api/users", "/healthz", "/readyz"))}


def rest_routes(app) -> set[tuple[str, str]]:
    """(method, path) of the app's REST routes: /api/*, /healthz and /readyz (not /ws, not the browser
    client's static files, not HEAD)."""
    routes = set()
    for route in app.router.routes():
        path = route.resource.canonical
        if route.method in ("HEAD", "*") or path in NOT_DOCUMENTED:
            continue
        if path.startswith("/api/") or path in ("/healthz", "/readyz"):
            routes.add((route.method, path))
    return routes


def assert_error(status: int, body: dict, code: int) -> None:
    assert status == code, body
    assert set(body) == {"code", "message", "data"}, body
    assert body["code"] == code


# --- /healthz, /readyz----------------------------------------------------------------------------


async def test_readyz_200_with_the_database_at_the_newest_schema(client):
    response = await client.get("/readyz")
    assert response.status == 200
    assert await response.json() == {"code": 200, "message": "ok", "data": {"database": "ok", "schema": "ok"}}


async def test_healthz_is_liveness_alone(dead_db_client):
    response = await dead_db_client.get("/healthz")
    assert (response.status, await response.json()) == (200, {"code": 200, "message": "ok", "data": {"status": "ok"}})


async def test_readyz_503_on_a_schema_behind_the_code(client, engine):
    async with engine.begin() as conn:
        await conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    response = await client.get("/readyz")
    body = await response.json()
    assert_error(response.status, body, 503)
    assert "hubbub migrate" in body["message"]


async def test_readyz_503_once_shutdown_begins(client):
    client.server.app[READINESS].draining = True
    response = await client.get("/readyz")
    body = await response.json()
    assert_error(response.status, body, 503)
    assert body["message"] == "not ready: shutting down"


async def test_healthz_and_readyz_need_no_token(client):
    for path in ("/healthz", "/readyz"):
        response = await client.get(path, headers={"Authorization": "Bearer garbage"})
        assert response.status == 200


@pytest.fixture
async def dead_db_client(aiohttp_client, settings):
    """The app with its database on a port where nothing listens: it must still start."""
    app = create_app(settings.replace(database_url="mysql+aiomysql://hubbub:hubbub@127.0.0.1:1/x"))
    return await aiohttp_client(app)


async def test_readyz_503_when_the_database_is_unreachable(dead_db_client):
    started = time.monotonic()
    response = await asyncio.wait_for(dead_db_client.get("/readyz"), 10)
    assert time.monotonic() - started < 5
    assert_error(response.status, await response.json(), 503)
    assert int(response.headers["Retry-After"]) >= 1


async def test_routes_needing_the_database_503_when_it_is_unreachable(dead_db_client):
    response = await asyncio.wait_for(dead_db_client.post("/api/auth/login", json={"username": "alice", "password": "secret1"}), 10)
    body = await response.json()
    assert_error(response.status, body, 503)
    assert "Retry-After" in response.headers
    assert "127.0.0.1" not in body["message"] and "aiomysql" not in body["message"]
    response = await asyncio.wait_for(
        dead_db_client.post("/api/auth/register", json={"username": "alice", "email": "a@example.com", "password": "secret1"}), 10
    )
    assert_error(response.status, await response.json(), 503)
    # Routes that need no database still answer.
    response = await dead_db_client.get("/api/openapi.json")
    assert response.status == 200


async def test_readyz_is_a_logged_500_not_a_503_for_a_fault_of_the_servers_own(client, monkeypatch, caplog):
    """A 503 says "the database is down, retry later"; a bug must not hide behind it."""

    async def broken_check(self):
        raise RuntimeError("a bug in the health check")

    monkeypatch.setattr(Readiness, "_schema_versions", broken_check)
    response = await client.get("/readyz")
    assert_error(response.status, await response.json(), 500)
    assert any(record.exc_info and "a bug in the health check" in str(record.exc_info[1]) for record in caplog.records)


@pytest.fixture
async def silent_port():
    """A TCP port that accepts connections and never says a word (a hung database)."""
    held = []

    async def hold(reader, writer):
        held.append(writer)
        await reader.read()  # until the client gives up

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_readyz_503_in_seconds_when_the_database_hangs(aiohttp_client, settings, silent_port):
    app = create_app(settings.replace(database_url=f"mysql+aiomysql://hubbub:hubbub@127.0.0.1:{silent_port}/x"))
    client = await aiohttp_client(app)
    started = time.monotonic()
    response = await asyncio.wait_for(client.get("/readyz"), 15)
    assert time.monotonic() - started < 6
    assert_error(response.status, await response.json(), 503)


# --- /api/openapi.json ----------------------------------------------------------------------


@pytest.fixture
async def spec(client) -> dict:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    return await response.json()


async def test_openapi_is_a_valid_3_1_document(spec):
    assert spec["openapi"] == "3.1.0"
    assert "code" not in spec  # the one answer that is not enveloped
    validate(spec)


async def test_openapi_needs_no_token(client):
    response = await client.get("/api/openapi.json", headers={"Authorization": "Bearer nonsense"})
    assert response.status == 200


async def test_openapi_lists_every_rest_route_of_the_app(app, spec):
    documented = {(method.upper(), path) for path, operations in spec["paths"].items() for method in operations}
    have = rest_routes(app)
    assert have - documented == set(), "routes missing from the document"
    assert documented - have == set(), "documented routes the app does not have"
    # Every contract route the app has is there; the foundation's routes must all exist.
    assert (CONTRACT_ROUTES & have) - documented == set()
    assert FOUNDATION_ROUTES <= have
    assert (have - CONTRACT_ROUTES) == set(), "the app has REST routes PROTOCOL §3 does not list"


async def test_openapi_marks_protected_operations(spec):
    public = {("post", "/api/auth/register"), ("post", "/api/auth/login"), ("post", "/api/auth/refresh"), ("post", "/api/auth/login/2fa"), ("get", "/healthz"), ("get", "/readyz")}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if (method, path) in public:
                assert "security" not in operation, (method, path)
            else:
                assert operation.get("security") == [{"bearer": []}], (method, path)
                assert "401" in operation["responses"], (method, path)
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def resolve(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    name = ref.removeprefix("#/components/schemas/")
    return spec["components"]["schemas"][name]


async def test_request_bodies_reference_the_validating_schemas(app, spec):
    checked = 0
    for route in app.router.routes():
        doc = getattr(route.handler, API_DOC_ATTRIBUTE, None)
        if doc is None or doc.body is None or route.method == "HEAD":
            continue
        operation = spec["paths"][route.resource.canonical][route.method.lower()]
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert "$ref" in schema, (route.method, route.resource.canonical, schema)
        component = resolve(spec, schema)
        fields = doc.body().fields
        assert set(component["properties"]) == set(fields), route.resource.canonical
        required = {name for name, field in fields.items() if field.required}
        assert set(component.get("required", [])) == required, route.resource.canonical
        assert component.get("additionalProperties") is False  # unknown fields are refused (422)
        checked += 1
    assert checked >= 3


async def test_auth_and_user_schemas_carry_the_contract_rules(spec):
    register = resolve(spec, spec["paths"]["/api/auth/register"]["post"]["requestBody"]["content"]["application/json"]["schema"])
    assert set(register["required"]) == {"username", "email", "password"}
    assert register["properties"]["password"]["minLength"] == 6
    assert register["properties"]["password"]["maxLength"] == 128
    assert register["properties"]["email"]["format"] == "email"
    login = resolve(spec, spec["paths"]["/api/auth/login"]["post"]["requestBody"]["content"]["application/json"]["schema"])
    assert {"username", "email", "password"} <= set(login["properties"])
    update = resolve(spec, spec["paths"]["/api/users/me"]["patch"]["requestBody"]["content"]["application/json"]["schema"])
    assert set(update["properties"]) == {"nickname", "avatar"}
    query = {p["name"]: p for p in spec["paths"]["/api/users"]["get"]["parameters"] if p["in"] == "query"}
    assert set(query) == {"q", "limit", "after"}
    assert query["limit"]["schema"]["maximum"] == 100
    assert query["limit"]["schema"]["default"] == 50
    history = {p["name"]: p for p in spec["paths"]["/api/conversations/{id}/messages"]["get"]["parameters"] if p["in"] == "query"}
    assert history["limit"]["schema"]["default"] == 50


async def test_username_pattern_means_the_same_in_json_schema(spec):
    """JSON Schema patterns are ECMA-262 regexes: Python-only syntax such as \\Z (which ECMA reads
    as a literal "Z") would make every client-side validator refuse valid names."""
    register = resolve(spec, spec["paths"]["/api/auth/register"]["post"]["requestBody"]["content"]["application/json"]["schema"])
    pattern = register["properties"]["username"]["pattern"]
    assert "\\Z" not in pattern and "\\A" not in pattern
    compiled = re.compile(pattern)
    assert compiled.search("alice_01") and compiled.search("A" * 32)
    assert not compiled.search("ab") and not compiled.search("a" * 33) and not compiled.search("bad-name")


async def test_responses_document_the_envelope_and_error_data(spec):
    register = spec["paths"]["/api/auth/register"]["post"]["responses"]
    ok = register["201"]["content"]["application/json"]["schema"]
    assert set(ok["required"]) == {"code", "message", "data"}
    assert resolve(spec, ok["properties"]["data"]) == spec["components"]["schemas"]["MeVO"]
    assert "password_hash" not in spec["components"]["schemas"]["MeVO"]["properties"]
    for code in ("409", "413", "422"):
        assert code in register
    # A 422's data carries the field errors; a 429's the retry time and a Retry-After header.
    invalid = resolve(spec, register["422"]["content"]["application/json"]["schema"]["properties"]["data"])
    assert "errors" in invalid.get("properties", {}), invalid
    limited = spec["paths"]["/api/auth/login"]["post"]["responses"]["429"]
    assert "retry_after_ms" in resolve(spec, limited["content"]["application/json"]["schema"]["properties"]["data"]).get("properties", {})
    assert "Retry-After" in limited.get("headers", {})
    users = spec["paths"]["/api/users"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert users["properties"]["data"]["type"] == "array"
