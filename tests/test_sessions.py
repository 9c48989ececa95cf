"""Sessions per device (PROTOCOL §3 sessions) over real HTTP and sockets, on MariaDB and SQLite:
each login is a session with a device label; the caller lists its sessions, revokes one (its
tokens fail and its sockets close 1008) or all the others; the revocation check is the
session's row, so a session revoked behind the server's back closes its sockets at the sweep."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select, update

import server.app
from handlers.services.tokens import decode_token
from server.app import create_app
from storage.clock import utc_now
from storage.tables import auth_sessions
from tests.chat import PASSWORD, Socket, UserFactory
from tests.cluster import NATS_SERVER, two_servers_on_a_bus
from tests.test_ws_lifecycle import receive_close

pytestmark = pytest.mark.usefixtures("backend")


async def login(client, username: str = "alice", **extra) -> dict:
    headers = extra.pop("headers", {})
    response = await client.post("/api/auth/login", json={"username": username, "password": PASSWORD, **extra}, headers=headers)
    body = await response.json()
    assert response.status == 200, body
    return body["data"]


async def call(client, method: str, path: str, token: str, **kwargs) -> tuple[int, dict]:
    response = await client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
    return response.status, await response.json()


async def connect(client, token: str) -> Socket:
    return Socket(await client.ws_connect("/ws", headers={"Authorization": f"Bearer {token}"}), client)


async def ping(socket: Socket) -> None:
    assert (await socket.request("ping"))["code"] == 200


@pytest.fixture
async def alice(users):
    return await users.make("alice")


async def test_each_login_is_a_session_labelled_by_the_client_or_its_user_agent(client, alice):
    phone = await login(client, device="Alice's phone")
    laptop = await login(client, headers={"User-Agent": "Firefox/133.0 (X11; Linux)"})
    status, body = await call(client, "GET", "/api/auth/sessions", phone["token"])
    assert status == 200, body
    sessions = {row["id"]: row for row in body["data"]}
    assert len(sessions) == 3  # the fixture's login, the phone, the laptop
    assert sessions[phone["session_id"]]["device"] == "Alice's phone"
    assert sessions[phone["session_id"]]["current"] is True
    assert sessions[laptop["session_id"]]["device"] == "Firefox/133.0 (X11; Linux)"
    assert [row["current"] for row in body["data"]].count(True) == 1
    for row in body["data"]:
        assert set(row) == {"id", "device", "created_at", "last_seen_at", "current"}
        assert row["last_seen_at"] >= row["created_at"] > 0
    # No secret of any session is listed.
    assert phone["refresh_token"] not in str(body) and laptop["refresh_token"] not in str(body)


async def test_a_device_label_too_long_is_422(client, alice):
    response = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD, "device": "x" * 129})
    assert response.status == 422 and "device" in (await response.json())["data"]["errors"]


async def test_revoking_a_session_ends_its_tokens_and_closes_its_sockets(client, alice):
    other = await login(client, device="tablet")
    mine = await connect(client, alice.token)
    theirs = await connect(client, other["token"])
    await ping(theirs)

    status, body = await call(client, "DELETE", f"/api/auth/sessions/{other['session_id']}", alice.token)
    assert status == 200 and body["data"] is None, body
    assert (await receive_close(theirs))[0] == 1008
    assert (await call(client, "GET", "/api/users/me", other["token"]))[0] == 401
    refreshed = await client.post("/api/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert refreshed.status == 401
    _, listed = await call(client, "GET", "/api/auth/sessions", alice.token)
    assert other["session_id"] not in {row["id"] for row in listed["data"]}
    # The caller's own session and socket are untouched; revoking twice is 404.
    await ping(mine)
    assert (await call(client, "DELETE", f"/api/auth/sessions/{other['session_id']}", alice.token))[0] == 404
    await mine.close()


async def test_revoking_the_current_session_signs_the_caller_out(client, alice):
    session_id = decode_token(alice.token, client.server.app[server.app.SETTINGS].jwt_secret).session_id
    mine = await connect(client, alice.token)
    assert (await call(client, "DELETE", f"/api/auth/sessions/{session_id}", alice.token))[0] == 200
    assert (await receive_close(mine))[0] == 1008
    assert (await call(client, "GET", "/api/auth/sessions", alice.token))[0] == 401


async def test_another_users_session_is_404_and_stays_alive(client, users, alice):
    bob = await users.make("bob")
    bobs = await login(client, "bob")
    bobs_socket = await connect(client, bobs["token"])
    for path in (f"/api/auth/sessions/{bobs['session_id']}", "/api/auth/sessions/999999", "/api/auth/sessions/abc", "/api/auth/sessions/0"):
        status, body = await call(client, "DELETE", path, alice.token)
        assert status == 404 and body["code"] == 404, (path, body)
    await ping(bobs_socket)
    assert (await call(client, "GET", "/api/users/me", bobs["token"]))[0] == 200
    _, listed = await call(client, "GET", "/api/auth/sessions", alice.token)
    assert bobs["session_id"] not in {row["id"] for row in listed["data"]}
    _, listed = await call(client, "GET", "/api/auth/sessions", bob.token)
    assert {row["id"] for row in listed["data"]} >= {bobs["session_id"]}
    await bobs_socket.close()


async def test_sessions_need_a_token(client, alice):
    assert (await client.get("/api/auth/sessions")).status == 401
    assert (await client.delete("/api/auth/sessions/1")).status == 401
    assert (await client.post("/api/auth/logout-all")).status == 401


async def test_logout_all_keeps_only_the_callers_session(client, users, alice):
    bob = await users.make("bob")
    bobs_socket = await connect(client, bob.token)
    others = [await login(client, device=f"device {n}") for n in range(2)]
    their_sockets = [await connect(client, other["token"]) for other in others]
    mine = await connect(client, alice.token)

    status, body = await call(client, "POST", "/api/auth/logout-all", alice.token)
    assert status == 200 and body["data"] is None, body
    for socket in their_sockets:
        assert (await receive_close(socket))[0] == 1008
    for other in others:
        assert (await call(client, "GET", "/api/users/me", other["token"]))[0] == 401
        assert (await client.post("/api/auth/refresh", json={"refresh_token": other["refresh_token"]})).status == 401
    await ping(mine)
    _, listed = await call(client, "GET", "/api/auth/sessions", alice.token)
    assert [row["current"] for row in listed["data"]] == [True]
    # Another user's sessions are not touched.
    await ping(bobs_socket)
    for socket in (mine, bobs_socket):
        await socket.close()


async def test_logout_ends_the_session_and_its_refresh_token(client, alice):
    session = await login(client)
    assert (await call(client, "POST", "/api/auth/logout", session["token"]))[0] == 200
    assert (await client.post("/api/auth/refresh", json={"refresh_token": session["refresh_token"]})).status == 401
    _, listed = await call(client, "GET", "/api/auth/sessions", alice.token)
    assert session["session_id"] not in {row["id"] for row in listed["data"]}


async def test_last_seen_is_written_at_most_every_few_minutes(aiohttp_client, settings, engine):
    async def seen(session_id: int):
        async with engine.connect() as conn:
            return await conn.scalar(select(auth_sessions.c.last_seen_at).where(auth_sessions.c.id == session_id))

    async def age(session_id: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(
                update(auth_sessions).where(auth_sessions.c.id == session_id).values(last_seen_at=utc_now().replace(year=2020))
            )

    client = await aiohttp_client(create_app(settings.replace(session_seen_every_seconds=600)))
    alice = await UserFactory(client).make("alice")
    session_id = decode_token(alice.token, settings.jwt_secret).session_id
    first = await seen(session_id)
    assert (await call(client, "GET", "/api/users/me", alice.token))[0] == 200
    assert await seen(session_id) == first  # seen moments ago: no write
    await age(session_id)
    assert (await call(client, "GET", "/api/users/me", alice.token))[0] == 200
    assert (await seen(session_id)).year == utc_now().year


async def test_the_sweeper_closes_sockets_of_a_session_revoked_elsewhere(aiohttp_client, settings, engine, monkeypatch):
    """A server that missed the news (no bus) finds out from the session's row."""
    monkeypatch.setattr(server.app, "TOKEN_SWEEP_SECONDS", 0.2)
    client = await aiohttp_client(create_app(settings))
    alice = await UserFactory(client).make("alice")
    other = await login(client)
    mine = await connect(client, alice.token)
    theirs = await connect(client, other["token"])
    async with engine.begin() as conn:
        await conn.execute(update(auth_sessions).where(auth_sessions.c.id == other["session_id"]).values(revoked_at=utc_now()))
    assert (await receive_close(theirs, timeout=3))[0] == 1008
    await asyncio.sleep(0.5)
    await ping(mine)
    await mine.close()


@pytest.mark.skipif(not Path(NATS_SERVER).exists(), reason="nats-server is not installed (tests/run.sh installs it)")
async def test_with_a_bus_a_revoked_sessions_sockets_close_on_every_process(aiohttp_client, settings, engine, monkeypatch, tmp_path):
    """On MariaDB alone (no `backend`): several processes share one database."""
    async with two_servers_on_a_bus(aiohttp_client, settings, monkeypatch, tmp_path / "nats.log") as (first, second):
        alice = await UserFactory(first).make("alice")
        revoked, others = await login(first), [await login(first) for _ in range(2)]
        theirs = await connect(second, revoked["token"])
        mine_there = await connect(second, alice.token)
        others_there = [await connect(second, other["token"]) for other in others]
        for socket in (theirs, mine_there, *others_there):
            await ping(socket)

        assert (await call(first, "DELETE", f"/api/auth/sessions/{revoked['session_id']}", alice.token))[0] == 200
        assert (await receive_close(theirs, timeout=3))[0] == 1008
        assert (await call(first, "POST", "/api/auth/logout-all", alice.token))[0] == 200
        for socket in others_there:
            assert (await receive_close(socket, timeout=3))[0] == 1008
        await asyncio.sleep(0.3)
        await ping(mine_there)
        await mine_there.close()
