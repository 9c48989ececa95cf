"""Token refresh (PROTOCOL §3 POST /api/auth/refresh), on MariaDB and SQLite: a refresh token
gives a new access token of its session and the next refresh token, once; presented again it
revokes the whole session (its tokens fail, its sockets close 1008); the server keeps only
hashes; a session's socket outlives its access token."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import select, text, update

import server.app
from handlers.services.tokens import decode_token
from server.app import create_app
from storage import tokens as token_store
from storage.clock import utc_now
from storage.tables import auth_sessions, refresh_tokens
from tests.chat import PASSWORD, UserFactory
from tests.test_sessions import call, connect, login, ping
from tests.test_ws_lifecycle import receive_close

pytestmark = pytest.mark.usefixtures("backend")


async def refresh(client, refresh_token) -> tuple[int, dict]:
    response = await client.post("/api/auth/refresh", json={"refresh_token": refresh_token})
    return response.status, await response.json()


@pytest.fixture
async def alice(users):
    return await users.make("alice")


async def test_refresh_rotates_and_keeps_the_session(client, settings, alice):
    first = await login(client, device="phone")
    status, body = await refresh(client, first["refresh_token"])
    assert status == 200, body
    second = body["data"]
    assert set(second) == {"token", "token_type", "expires_in", "refresh_token", "refresh_expires_in", "session_id"}
    assert second["session_id"] == first["session_id"]
    assert second["refresh_token"] != first["refresh_token"] and second["token"] != first["token"]
    assert second["expires_in"] == settings.jwt_ttl_seconds and second["refresh_expires_in"] == settings.refresh_ttl_seconds
    assert decode_token(second["token"], settings.jwt_secret).session_id == first["session_id"]
    # Both access tokens of the session work; the next refresh token works once more.
    assert (await call(client, "GET", "/api/users/me", second["token"]))[0] == 200
    assert (await call(client, "GET", "/api/users/me", first["token"]))[0] == 200
    status, body = await refresh(client, second["refresh_token"])
    assert status == 200, body
    _, listed = await call(client, "GET", "/api/auth/sessions", alice.token)
    assert [row["device"] for row in listed["data"] if row["id"] == first["session_id"]] == ["phone"]


async def test_a_reused_refresh_token_revokes_the_whole_session(client, alice):
    stolen = await login(client)
    socket = await connect(client, stolen["token"])
    mine = await connect(client, alice.token)
    status, body = await refresh(client, stolen["refresh_token"])
    assert status == 200
    rotated = body["data"]

    status, body = await refresh(client, stolen["refresh_token"])  # the copy comes back
    assert status == 401 and body["code"] == 401, body
    assert (await receive_close(socket))[0] == 1008
    for token in (stolen["token"], rotated["token"]):
        assert (await call(client, "GET", "/api/users/me", token))[0] == 401
    assert (await refresh(client, rotated["refresh_token"]))[0] == 401
    # Other sessions of the user go on.
    await ping(mine)
    assert (await call(client, "GET", "/api/users/me", alice.token))[0] == 200
    await mine.close()


async def test_a_refresh_token_raced_twice_is_taken_once_and_the_session_revoked(client, alice):
    """Two refreshes with one token at the same moment: at most one rotates it (the session
    cannot fork into two chains), and the other counts as a reuse, revoking the session."""
    session = await login(client)
    answers = await asyncio.gather(*(refresh(client, session["refresh_token"]) for _ in range(2)))
    statuses = sorted(status for status, _ in answers)
    assert statuses in ([200, 401], [401, 401]), answers
    for status, body in answers:
        if status == 200:
            assert (await refresh(client, body["data"]["refresh_token"]))[0] == 401
            assert (await call(client, "GET", "/api/users/me", body["data"]["token"]))[0] == 401
    _, listed = await call(client, "GET", "/api/auth/sessions", alice.token)
    assert session["session_id"] not in {row["id"] for row in listed["data"]}


@pytest.mark.parametrize("payload", [{}, {"refresh_token": ""}, {"refresh_token": 5}, {"refresh_token": "x", "extra": 1}, {"refresh_token": "x" * 257}])
async def test_malformed_refresh_is_422(client, payload):
    response = await client.post("/api/auth/refresh", json=payload)
    assert response.status == 422, await response.text()


async def test_unknown_refresh_token_is_401(client, alice):
    status, body = await refresh(client, "not-a-refresh-token")
    assert status == 401 and body["message"] == "invalid refresh token", body
    # An access token is no refresh token.
    assert (await refresh(client, alice.token))[0] == 401


async def test_refresh_of_a_disabled_user_is_403(client, engine, alice):
    session = await login(client)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE users SET status = 0 WHERE id = :id"), {"id": alice.id})
    assert (await refresh(client, session["refresh_token"]))[0] == 403


async def test_an_expired_session_cannot_be_refreshed(client, engine, alice):
    session = await login(client)
    async with engine.begin() as conn:
        await conn.execute(
            update(auth_sessions).where(auth_sessions.c.id == session["session_id"]).values(expires_at=utc_now().replace(year=2020))
        )
    assert (await refresh(client, session["refresh_token"]))[0] == 401
    assert (await call(client, "GET", "/api/users/me", session["token"]))[0] == 401


async def test_admin_revocation_ends_refresh_too(client, engine, alice):
    session = await login(client)
    async with engine.begin() as conn:
        await token_store.revoke_all(conn, alice.id)
    assert (await refresh(client, session["refresh_token"]))[0] == 401


async def test_the_server_keeps_only_hashes_of_refresh_tokens(client, engine, alice):
    session = await login(client)
    _, body = await refresh(client, session["refresh_token"])
    async with engine.connect() as conn:
        stored = set(await conn.scalars(select(refresh_tokens.c.token_hash)))
    for token in (session["refresh_token"], body["data"]["refresh_token"]):
        assert token not in stored
        assert hashlib.sha256(token.encode()).hexdigest() in stored


async def test_a_sessions_socket_outlives_its_access_token(aiohttp_client, settings, engine, monkeypatch):
    """The client refreshes over REST; its socket stays open past the token's expiry while the
    session lives, and still closes when the session is revoked."""
    monkeypatch.setattr(server.app, "TOKEN_SWEEP_SECONDS", 0.1)
    client = await aiohttp_client(create_app(settings.replace(jwt_ttl_seconds=1)))
    await UserFactory(client).make("alice")
    session = await login(client)
    socket = await connect(client, session["token"])
    await asyncio.sleep(2.5)  # the token has expired, several sweeps ran
    assert (await call(client, "GET", "/api/users/me", session["token"]))[0] == 401
    await ping(socket)
    status, body = await refresh(client, session["refresh_token"])
    assert status == 200
    assert (await call(client, "GET", "/api/users/me", body["data"]["token"]))[0] == 200
    await ping(socket)
    assert (await call(client, "POST", "/api/auth/logout", body["data"]["token"]))[0] == 200
    assert (await receive_close(socket))[0] == 1008


async def test_refresh_tokens_are_not_logged(client, alice, caplog):
    session = await login(client)
    with caplog.at_level("DEBUG"):
        _, body = await refresh(client, session["refresh_token"])
        await refresh(client, session["refresh_token"])  # reused: revoked, logged or not, without the secret
    for secret in (session["refresh_token"], body["data"]["refresh_token"], PASSWORD):
        assert secret not in caplog.text
