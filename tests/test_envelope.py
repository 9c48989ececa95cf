"""The REST envelope (PROTOCOL §1): every answer, errors included, is exactly
{code, message, data} with code == HTTP status, and no stack trace or SQL ever leaves the
server. Real HTTP on loopback, real MariaDB."""

from __future__ import annotations

import json

import pytest
from aiohttp import web
from sqlalchemy import text

from server.app import create_app
from server.keys import DB
from server.middleware import public

SECRET_DETAIL = "kaboom-7f3a internal detail"
LEAK_MARKERS = ("Traceback", "RuntimeError", "File \"", SECRET_DETAIL, "no_such_table_x", "SELECT", "sqlalchemy", "pymysql")


async def envelope_of(response, code: int) -> dict:
    assert response.status == code, await response.text()
    assert response.content_type == "application/json"
    raw = await response.text()
    body = json.loads(raw)
    assert set(body) == {"code", "message", "data"}, body
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]
    for marker in LEAK_MARKERS:
        assert marker not in raw, raw
    return body


# --- 404, 405 -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/api/nope", "/api/users/1/extra", "/api/auth", "/api/auth/register/", "/favicon.ico"])
async def test_unknown_path_404(client, users, path):
    alice = await users.make("alice")
    body = await envelope_of(await client.get(path, headers=alice.auth), 404)
    assert body["data"] is None


@pytest.mark.parametrize("path", ["/nope", "/api/nope"])
async def test_unknown_path_is_404_even_without_a_token(client, path):
    """No such resource is 404 for everyone: a missing token does not turn it into 401."""
    await envelope_of(await client.get(path), 404)
    await envelope_of(await client.post(path, json={}), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/api/auth/register", "POST"),
        ("PUT", "/api/auth/login", "POST"),
        ("PUT", "/api/users/me", "GET"),  # DELETE is the account deletion (issue #18)
        ("POST", "/healthz", "GET"),
    ],
)
async def test_wrong_method_405(client, users, method, path, allowed):
    alice = await users.make("alice")
    for headers in ({}, alice.auth):
        response = await client.request(method, path, headers=headers)
        body = await envelope_of(response, 405)
        assert body["data"] is None
        assert allowed in response.headers.get("Allow", ""), response.headers


# --- 400, 413 -------------------------------------------------------------------------------


async def test_non_json_body_400(client):
    response = await client.post("/api/auth/register", data=b"username=alice", headers={"Content-Type": "application/json"})
    await envelope_of(response, 400)


async def test_body_over_one_mebibyte_413(client):
    payload = {"username": "alice", "email": "alice@example.com", "password": "secret1", "nickname": "n" * (1024 * 1024 + 10)}
    response = await client.post("/api/auth/register", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    body = await envelope_of(response, 413)
    assert body["data"] is None


async def test_large_body_on_an_authenticated_route_413(client, users):
    alice = await users.make("alice")
    response = await client.patch(
        "/api/users/me", data=json.dumps({"nickname": "x" * (2 * 1024 * 1024)}).encode(), headers={**alice.auth, "Content-Type": "application/json"}
    )
    await envelope_of(response, 413)


async def test_body_just_under_the_limit_is_read(client):
    """Not refused for size: it is read and validated (the nickname is too long: 422)."""
    payload = {"username": "alice", "email": "alice@example.com", "password": "secret1", "nickname": "n" * (900 * 1024)}
    response = await client.post("/api/auth/register", json=payload)
    body = await envelope_of(response, 422)
    assert "nickname" in body["data"]["errors"]


# --- 500 ------------------------------------------------------------------------------------


@pytest.fixture
async def faulty_client(aiohttp_client, settings, engine):
    """The real app with three extra routes that fail in ways no real route should."""
    app = create_app(settings)

    @public
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError(SECRET_DETAIL)

    @public
    async def bad_sql(request: web.Request) -> web.Response:
        async with request.app[DB].connect() as conn:
            await conn.execute(text("SELECT secret FROM no_such_table_x"))
        return web.Response(text="unreachable")

    async def boom_authenticated(request: web.Request) -> web.Response:
        raise KeyError(SECRET_DETAIL)

    app.router.add_get("/test/boom", boom)
    app.router.add_get("/test/bad-sql", bad_sql)
    app.router.add_get("/api/test/boom-auth", boom_authenticated)
    return await aiohttp_client(app)


async def test_unexpected_fault_500_without_a_traceback(faulty_client):
    body = await envelope_of(await faulty_client.get("/test/boom"), 500)
    assert body["data"] is None


async def test_sql_fault_500_without_sql(faulty_client):
    await envelope_of(await faulty_client.get("/test/bad-sql"), 500)


async def test_fault_behind_auth_500(faulty_client):
    from tests.chat import UserFactory

    alice = await UserFactory(faulty_client).make("alice")
    await envelope_of(await faulty_client.get("/api/test/boom-auth"), 401)
    await envelope_of(await faulty_client.get("/api/test/boom-auth", headers=alice.auth), 500)


async def test_server_keeps_serving_after_a_fault(faulty_client):
    for _ in range(3):
        await envelope_of(await faulty_client.get("/test/boom"), 500)
    response = await faulty_client.get("/healthz")
    assert response.status == 200


# --- success answers are enveloped too ------------------------------------------------------


async def test_success_envelope(client, users):
    alice = await users.make("alice")
    response = await client.get("/api/users", headers=alice.auth)
    assert response.status == 200 and response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"code", "message", "data"}
    assert body["code"] == 200 and body["message"] == "ok" and isinstance(body["data"], list)


async def test_every_error_of_a_session_is_an_envelope(client, users):
    """A sweep over the foundation's routes with bad input: each answer is the envelope with
    code == HTTP status."""
    alice = await users.make("alice")
    calls = [
        ("POST", "/api/auth/register", {"json": {}}, 422),
        ("POST", "/api/auth/register", {"data": b"[1]", "headers": {"Content-Type": "application/json"}}, 400),
        ("POST", "/api/auth/login", {"json": {"username": "alice", "password": "nope"}}, 401),
        ("POST", "/api/auth/logout", {}, 401),
        ("GET", "/api/users/me", {"headers": {"Authorization": "Bearer x"}}, 401),
        ("GET", "/api/users", {"headers": alice.auth, "params": {"limit": "500"}}, 422),
        ("GET", "/api/users/123456", {"headers": alice.auth}, 404),
        ("PATCH", "/api/users/me", {"headers": alice.auth, "json": {"nickname": ""}}, 422),
        ("POST", "/api/auth/register", {"json": {"username": "alice", "email": "a2@example.com", "password": "secret1"}}, 409),
    ]
    for method, path, kwargs, code in calls:
        await envelope_of(await client.request(method, path, **kwargs), code)
