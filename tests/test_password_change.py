"""POST /api/auth/password over real HTTP and real sockets on loopback, against a fresh database
per test on MariaDB and on SQLite (PROTOCOL §3 auth, §4 close codes, §5 login attempts): the
current password is checked and throttled as login is, the new one obeys the registration
rules, and every other token of the user is revoked and its sockets closed (1008), on every
process, while the calling token and its sockets keep working."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import WSServerHandshakeError
from sqlalchemy import select

import server.app
from handlers.errors import Unauthorized
from handlers.services.login_throttle import WINDOW_SECONDS
from handlers.services.tokens import decode_token
from server.app import create_app
from server.keys import SERVICES, SETTINGS
from storage import tokens as token_store
from storage.tables import auth_sessions
from storage.tables import users as users_table
from tests.chat import PASSWORD, Socket, UserFactory
from tests.cluster import NATS_SERVER, two_servers_on_a_bus
from tests.test_ws_lifecycle import receive_close

pytestmark = pytest.mark.usefixtures("backend")

NEW_PASSWORD = "a brand new secret"


async def change(client, token: str | None, current: str = PASSWORD, new: str = NEW_PASSWORD, **payload) -> tuple[int, dict, dict]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = payload or {"current_password": current, "new_password": new}
    response = await client.post("/api/auth/password", json=body, headers=headers)
    return response.status, await response.json(), response.headers


async def login(client, username: str = "alice", password: str = PASSWORD) -> tuple[int, dict]:
    response = await client.post("/api/auth/login", json={"username": username, "password": password})
    return response.status, await response.json()


async def me(client, token: str) -> int:
    return (await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})).status


async def ping(socket: Socket) -> None:
    reply = await socket.request("ping")
    assert reply["code"] == 200, reply


async def connect(client, token: str) -> Socket:
    return Socket(await client.ws_connect("/ws", headers={"Authorization": f"Bearer {token}"}), client)


@pytest.fixture
async def alice(users):
    return await users.make("alice")


async def test_success_revokes_the_other_tokens_and_keeps_the_callers(client, alice):
    _, other = await login(client)
    other_token = other["data"]["token"]
    mine = await connect(client, alice.token)
    theirs = await connect(client, other_token)
    await ping(mine)
    await ping(theirs)

    status, body, _ = await change(client, alice.token)
    assert status == 200 and body == {"code": 200, "message": "ok", "data": None}, body

    # The other device: its socket closes with 1008, its token is 401 on REST and for sockets.
    assert (await receive_close(theirs))[0] == 1008
    assert await me(client, other_token) == 401
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws", headers={"Authorization": f"Bearer {other_token}"})
    assert refused.value.status == 401
    # The caller: its socket and its token keep working, new sockets too.
    await ping(mine)
    assert await me(client, alice.token) == 200
    again = await connect(client, alice.token)
    await ping(again)
    # The old password no longer logs in, the new one does, and its token works.
    assert (await login(client))[0] == 401
    status, fresh = await login(client, password=NEW_PASSWORD)
    assert status == 200, fresh
    assert await me(client, fresh["data"]["token"]) == 200
    await ping(mine)
    for socket in (mine, again):
        await socket.close()


async def test_the_sweeper_leaves_the_callers_sockets_open(aiohttp_client, settings, engine, monkeypatch):
    """Without a bus every process re-checks its sockets against the database: the caller's
    token is of the old generation, and must be told apart from the revoked ones."""
    monkeypatch.setattr(server.app, "TOKEN_SWEEP_SECONDS", 0.2)
    client = await aiohttp_client(create_app(settings))
    alice = await UserFactory(client).make("alice")
    mine = await connect(client, alice.token)
    assert (await change(client, alice.token))[0] == 200
    await asyncio.sleep(1)  # several sweeps
    await ping(mine)
    assert await me(client, alice.token) == 200
    await mine.close()


async def test_the_new_password_and_the_revocation_are_stored_together(client, engine, alice):
    _, other = await login(client)
    async with engine.connect() as conn:
        before = (await conn.execute(select(users_table).where(users_table.c.id == alice.id))).one()
    assert (await change(client, alice.token))[0] == 200
    async with engine.connect() as conn:
        after = (await conn.execute(select(users_table).where(users_table.c.id == alice.id))).one()
        sessions = {row.id: row.revoked_at for row in await conn.execute(select(auth_sessions))}
    assert after.password_hash != before.password_hash and after.password_hash.startswith("$2b$")
    # Tokens without a session (issued before sessions existed) are revoked by the generation;
    # the other session by its row, the caller's kept.
    assert after.token_generation == before.token_generation + 1
    assert after.kept_token_jti is None
    assert sessions[other["data"]["session_id"]] is not None
    assert sessions[decode_token(alice.token, client.server.app[SETTINGS].jwt_secret).session_id] is None


async def test_a_second_change_from_another_device_revokes_the_first_caller(client, alice):
    assert (await change(client, alice.token))[0] == 200
    _, other = await login(client, password=NEW_PASSWORD)
    other_token = other["data"]["token"]
    # The kept token may change the password again, and stays valid.
    assert (await change(client, alice.token, current=NEW_PASSWORD, new="third secret"))[0] == 200
    assert await me(client, alice.token) == 200
    assert await me(client, other_token) == 401
    _, other = await login(client, password="third secret")
    other_token = other["data"]["token"]
    assert (await change(client, other_token, current="third secret", new="fourth secret"))[0] == 200
    assert await me(client, other_token) == 200
    assert await me(client, alice.token) == 401


async def test_logout_and_admin_revocation_still_end_the_kept_token(client, engine, alice):
    assert (await change(client, alice.token))[0] == 200
    async with engine.begin() as conn:
        await token_store.revoke_all(conn, alice.id)
    assert await me(client, alice.token) == 401

    _, fresh = await login(client, password=NEW_PASSWORD)
    token = fresh["data"]["token"]
    assert (await change(client, token, current=NEW_PASSWORD, new="third secret"))[0] == 200
    assert (await client.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})).status == 200
    assert await me(client, token) == 401


async def test_a_revoked_token_cannot_bring_itself_back(client, engine, settings, alice):
    """Revoked between the request's token check and its transaction: 401, nothing changed."""
    claims = decode_token(alice.token, settings.jwt_secret)
    async with engine.begin() as conn:
        await token_store.revoke_all(conn, alice.id)
    with pytest.raises(Unauthorized):
        await client.server.app[SERVICES].auth.change_password(
            claims, current_password=PASSWORD, new_password=NEW_PASSWORD, client_address="127.0.0.1"
        )
    assert await me(client, alice.token) == 401
    assert (await login(client))[0] == 200  # the password did not change


async def test_wrong_current_password_is_403_and_changes_nothing(client, alice):
    mine = await connect(client, alice.token)
    status, body, _ = await change(client, alice.token, current="not my password")
    assert status == 403 and body["code"] == 403 and body["message"] == "current password is wrong", body
    assert await me(client, alice.token) == 200
    await ping(mine)
    assert (await login(client))[0] == 200
    assert (await login(client, password=NEW_PASSWORD))[0] == 401
    await mine.close()


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"current_password": PASSWORD, "new_password": "short"}, "new_password"),
        ({"current_password": PASSWORD, "new_password": "x" * 129}, "new_password"),
        ({"current_password": PASSWORD, "new_password": PASSWORD}, "new_password"),
        ({"current_password": PASSWORD}, "new_password"),
        ({"new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": "", "new_password": NEW_PASSWORD}, "current_password"),
        ({"current_password": PASSWORD, "new_password": NEW_PASSWORD, "extra": 1}, "extra"),
    ],
)
async def test_weak_equal_or_missing_passwords_422(client, alice, payload, field):
    status, body, _ = await change(client, alice.token, **payload)
    assert status == 422 and field in body["data"]["errors"], body
    assert (await login(client))[0] == 200


async def test_unauthenticated_401(client, alice):
    status, body, _ = await change(client, None)
    assert status == 401 and body["code"] == 401, body
    status, body, _ = await change(client, "not-a-jwt")
    assert status == 401, body
    assert (await login(client))[0] == 200


LIMIT = 3


@pytest.fixture
async def throttled(aiohttp_client, settings, engine):
    return await aiohttp_client(create_app(settings.replace(login_attempts_per_minute=LIMIT)))


def assert_throttled(status: int, headers, body: dict) -> None:
    assert status == 429 and body["code"] == 429, body
    assert 1 <= int(headers["Retry-After"]) <= WINDOW_SECONDS


async def test_wrong_current_passwords_are_throttled_like_logins(throttled):
    alice = await UserFactory(throttled).make("alice")
    for _ in range(LIMIT):
        assert (await change(throttled, alice.token, current="guess"))[0] == 403
    status, body, headers = await change(throttled, alice.token)  # the right one, too late
    assert_throttled(status, headers, body)
    # The same per-account count as login's: logging in is refused too.
    response = await throttled.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert_throttled(response.status, response.headers, await response.json())
    assert await me(throttled, alice.token) == 200


async def test_failed_logins_throttle_the_password_change(throttled):
    alice = await UserFactory(throttled).make("alice")
    for _ in range(LIMIT):
        assert (await login(throttled, password="guess"))[0] == 401
    status, body, headers = await change(throttled, alice.token)
    assert_throttled(status, headers, body)


async def test_a_successful_change_is_not_counted(throttled):
    alice = await UserFactory(throttled).make("alice")
    for _ in range(LIMIT - 1):
        assert (await change(throttled, alice.token, current="guess"))[0] == 403
    assert (await change(throttled, alice.token))[0] == 200
    assert (await change(throttled, alice.token, current=NEW_PASSWORD, new="third secret"))[0] == 200


@pytest.mark.skipif(not Path(NATS_SERVER).exists(), reason="nats-server is not installed (tests/run.sh installs it)")
async def test_with_a_bus_the_other_tokens_sockets_close_on_every_process(aiohttp_client, settings, engine, monkeypatch, tmp_path):
    async with two_servers_on_a_bus(aiohttp_client, settings, monkeypatch, tmp_path / "nats.log") as (first, second):
        alice = await UserFactory(first).make("alice")
        _, other = await login(first)
        theirs = await connect(second, other["data"]["token"])
        mine_here = await connect(first, alice.token)
        mine_there = await connect(second, alice.token)
        for socket in (theirs, mine_here, mine_there):
            await ping(socket)

        assert (await change(first, alice.token))[0] == 200
        assert (await receive_close(theirs, timeout=3))[0] == 1008
        await asyncio.sleep(0.3)  # the bus record reached `second` before the close above
        await ping(mine_there)
        await ping(mine_here)
        assert await me(second, alice.token) == 200
        for socket in (mine_here, mine_there):
            await socket.close()


async def test_openapi_lists_the_route(client):
    response = await client.get("/api/openapi.json")
    document = json.loads(await response.text())
    operation = document["paths"]["/api/auth/password"]["post"]
    assert {"401", "403", "422", "429"} <= set(operation["responses"])
