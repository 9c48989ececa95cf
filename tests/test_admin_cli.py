"""The administrator's commands (`hubbub user|token|conversation`), run as subprocesses against
the test's MariaDB database while a server on that database holds sockets: a user whose tokens
are revoked, or who is disabled, loses their sockets (1008) through the database (the token
sweeper) or at once through the cluster bus."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import aiohttp
import pytest

import server.app
from server.app import create_app
from tests.chat import PASSWORD, Socket, UserFactory, online
from tests.cluster import NATS_SERVER, NatsServer, until_buses_connected
from tests.processes import free_port, hubbub_command
from tests.test_ws_lifecycle import receive_close

pytestmark = pytest.mark.mysql


async def hubbub(database_url: str, *args: str, stdin: str = "", bus_url: str = "") -> tuple[int, str, str]:
    """Run `hubbub ARGS` on the test's database: (exit status, stdout, stderr)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUBBUB_")}
    env.update(HUBBUB_ENV="testing", HUBBUB_DATABASE_URL=database_url, HUBBUB_BUS_URL=bus_url)
    proc = await asyncio.create_subprocess_exec(
        *hubbub_command(), *args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def make_client(settings, engine, aiohttp_client):
    async def make(**overrides):
        return await aiohttp_client(create_app(settings.replace(**overrides)))

    return make


async def login(client, username: str, password: str = PASSWORD) -> tuple[int, dict]:
    response = await client.post("/api/auth/login", json={"username": username, "password": password})
    return response.status, await response.json()


async def me(client, token: str) -> int:
    return (await client.get("/api/users/me", headers={"Authorization": f"Bearer {token}"})).status


async def test_user_create_list_and_what_create_refuses(client, database_url):
    status, out, err = await hubbub(database_url, "user", "create", "alice", "--email", "alice@example.com", "--nickname", "Al", stdin="s3cret pw\n")
    assert status == 0 and "created user alice" in out, err
    status, body = await login(client, "alice", "s3cret pw")
    assert status == 200 and body["data"]["user"]["nickname"] == "Al", body

    status, _, err = await hubbub(database_url, "user", "create", "ALICE", "--email", "other@example.com", stdin="s3cret pw\n")
    assert status == 1 and "username already taken" in err
    status, _, err = await hubbub(database_url, "user", "create", "bob", "--email", "not-an-email", stdin="short\n")
    assert status == 2 and "email:" in err and "password:" in err, err

    await UserFactory(client).make("bob")
    status, out, _ = await hubbub(database_url, "user", "list")
    lines = out.splitlines()
    assert lines[0].split() == ["id", "username", "email", "nickname", "status", "created_at"]
    assert [line.split()[1] for line in lines[1:]] == ["alice", "bob"] and all("enabled" in line for line in lines[1:])
    status, out, _ = await hubbub(database_url, "user", "list", "--prefix", "b")
    assert [line.split()[1] for line in out.splitlines()[1:]] == ["bob"]


async def test_disable_closes_the_user_s_sockets_and_enable_does_not_revive_old_tokens(make_client, database_url, monkeypatch):
    monkeypatch.setattr(server.app, "TOKEN_SWEEP_SECONDS", 0.2)
    client = await make_client()
    users = UserFactory(client)
    alice, bob = await users.make("alice"), await users.make("bob")
    (alice_socket,), (bob_socket,) = await online(alice), await online(bob)

    status, out, err = await hubbub(database_url, "user", "disable", "alice")
    assert status == 0 and "disabled user alice" in out, err
    code, _ = await receive_close(alice_socket)
    assert code == 1008
    assert (await bob_socket.request("ping"))["code"] == 200
    assert await me(client, alice.token) == 403  # PROTOCOL §2: a disabled user's tokens are 403
    assert (await login(client, "alice"))[0] == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/ws", headers=alice.auth)
    assert refused.value.status == 403
    _, out, _ = await hubbub(database_url, "user", "list", "--prefix", "alice")
    assert "disabled" in out

    status, out, _ = await hubbub(database_url, "user", "enable", "alice")
    assert status == 0 and "enabled user alice" in out
    assert await me(client, alice.token) == 401  # revoked when disabled
    status, body = await login(client, "alice")
    assert status == 200 and await me(client, body["data"]["token"]) == 200


async def test_token_revoke_and_reset_password_revoke_every_token_of_the_user_only(make_client, database_url, monkeypatch):
    monkeypatch.setattr(server.app, "TOKEN_SWEEP_SECONDS", 0.2)
    client = await make_client()
    users = UserFactory(client)
    alice, bob = await users.make("alice"), await users.make("bob")
    _, second = await login(client, "alice")
    second_token = second["data"]["token"]
    first_socket = (await online(alice))[0]
    second_socket = Socket(await client.ws_connect("/ws", headers={"Authorization": f"Bearer {second_token}"}))
    bob_socket = (await online(bob))[0]

    status, out, err = await hubbub(database_url, "token", "revoke", "--user", "alice")
    assert status == 0 and "revoked every token of user alice" in out, err
    for socket in (first_socket, second_socket):
        assert (await receive_close(socket))[0] == 1008
    assert await me(client, alice.token) == 401 and await me(client, second_token) == 401
    assert await me(client, bob.token) == 200 and (await bob_socket.request("ping"))["code"] == 200
    # A token issued after the revocation works, and its socket outlives the sweeps.
    _, fresh = await login(client, "alice")
    fresh_socket = Socket(await client.ws_connect("/ws", headers={"Authorization": f"Bearer {fresh['data']['token']}"}))
    await asyncio.sleep(0.6)
    assert (await fresh_socket.request("ping"))["code"] == 200

    status, out, err = await hubbub(database_url, "user", "reset-password", "alice", stdin="brand new pw\n")
    assert status == 0 and "new password for user alice" in out, err
    assert (await receive_close(fresh_socket))[0] == 1008
    assert (await login(client, "alice"))[0] == 401
    assert (await login(client, "alice", "brand new pw"))[0] == 200
    status, _, err = await hubbub(database_url, "user", "reset-password", "alice", stdin="tiny\n")
    assert status == 2 and "password:" in err
    status, _, err = await hubbub(database_url, "token", "revoke", "--user", "nobody")
    assert status == 1 and "no user named 'nobody'" in err


async def test_conversation_list(client, database_url):
    users = UserFactory(client)
    alice, bob, carol = await users.make("alice"), await users.make("bob"), await users.make("carol")
    direct = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "team", "member_ids": [bob.id, carol.id]})
    await bob.ok("POST", f"/api/conversations/{direct['id']}/messages", json={"content": "hi"})

    status, out, err = await hubbub(database_url, "conversation", "list", "--user", "alice")
    assert status == 0, err
    header, *rows = [line.split() for line in out.splitlines()]
    assert header == ["id", "type", "name", "peer", "last_seq", "unread", "updated_at"]
    # Latest activity first: the direct conversation had a message after the group was made.
    assert [row[:6] for row in rows] == [[str(direct["id"]), "direct", "-", "bob", "1", "1"], [str(group["id"]), "group", "team", "-", "0", "0"]]
    status, _, err = await hubbub(database_url, "conversation", "list", "--user", "nobody")
    assert status == 1 and "no user named" in err


@pytest.mark.skipif(not Path(NATS_SERVER).exists(), reason="nats-server is not installed (tests/run.sh installs it)")
async def test_with_a_bus_the_sockets_close_at_once_and_an_unreachable_bus_is_reported(make_client, database_url, monkeypatch, tmp_path):
    nats = NatsServer(tmp_path / "nats.log")
    await nats.start()
    try:
        # No sweep during the test: the close can only have come over the bus.
        monkeypatch.setattr(server.app, "TOKEN_SWEEP_SECONDS", 3600)
        client = await make_client(bus_url=nats.url)
        await until_buses_connected([client.server.app])
        alice = await UserFactory(client).make("alice")
        (socket,) = await online(alice)
        status, out, err = await hubbub(database_url, "user", "disable", "alice", bus_url=nats.url)
        assert status == 0 and "cluster bus" in out, err
        assert (await receive_close(socket, timeout=3))[0] == 1008

        dead_bus = f"nats://127.0.0.1:{free_port()}"
        status, out, err = await hubbub(database_url, "token", "revoke", "--user", "alice", bus_url=dead_bus)
        assert status == 1 and "revoked every token" in out and "could not tell the servers" in err, (out, err)
    finally:
        nats.stop()


@pytest.mark.usefixtures("backend")
async def test_session_list_and_revoke_and_two_factor_reset(make_client, database_url, monkeypatch):
    """Sessions (issue #18): the administrator lists a user's devices, revokes one (its socket
    closes, the others stay), and turns off two-factor for a user who lost their codes; on
    MariaDB and on SQLite."""
    import pyotp

    monkeypatch.setattr(server.app, "TOKEN_SWEEP_SECONDS", 0.2)
    client = await make_client()
    alice = (await UserFactory(client).make("alice"))
    response = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD, "device": "old phone"})
    phone = (await response.json())["data"]
    phone_socket = Socket(await client.ws_connect("/ws", headers={"Authorization": f"Bearer {phone['token']}"}))
    laptop_socket = (await online(alice))[0]

    status, out, err = await hubbub(database_url, "session", "list", "--user", "alice")
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["id", "device", "created_at", "last_seen_at"] and len(lines) == 3
    assert any(line.startswith(str(phone["session_id"])) and "old phone" in line for line in lines[1:])

    status, out, err = await hubbub(database_url, "session", "revoke", "--user", "alice", "--id", str(phone["session_id"]))
    assert status == 0 and f"revoked session {phone['session_id']} of user alice" in out, err
    assert (await receive_close(phone_socket))[0] == 1008
    assert await me(client, phone["token"]) == 401
    assert await me(client, alice.token) == 200 and (await laptop_socket.request("ping"))["code"] == 200
    status, _, err = await hubbub(database_url, "session", "revoke", "--user", "alice", "--id", str(phone["session_id"]))
    assert status == 1 and "no live session" in err
    status, _, err = await hubbub(database_url, "session", "list", "--user", "nobody")
    assert status == 1 and "no user named 'nobody'" in err

    enrolment = await alice.ok("POST", "/api/auth/2fa/enrol", json={"password": PASSWORD})
    await alice.ok("POST", "/api/auth/2fa/confirm", json={"code": pyotp.TOTP(enrolment["secret"]).now()})
    assert (await login(client, "alice"))[0] == 401  # the second factor is asked for
    status, out, err = await hubbub(database_url, "user", "reset-2fa", "alice")
    assert status == 0 and "two-factor authentication is off for user alice" in out, err
    assert (await login(client, "alice"))[0] == 200
    await laptop_socket.close()
