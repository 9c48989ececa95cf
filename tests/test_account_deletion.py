"""Account deletion (PROTOCOL §3 DELETE /api/users/me), over real HTTP and sockets on MariaDB and
SQLite: confirmed with the password; the account is disabled and anonymised at once, every
session revoked and socket closed (1008); its files are no longer served; its messages stay
(content kept or removed per `deleted_user_content`); its groups pass to the oldest admin or
member; its username is held back for `deleted_username_hold_days`."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from server.app import create_app
from storage.clock import utc_now
from storage.tables import retired_usernames
from storage.tables import users as users_table
from tests.chat import PASSWORD, UserFactory, online, take
from tests.test_files import PNG, form
from tests.test_groups import make_group
from tests.test_sessions import call, connect, login
from tests.test_two_factor import code_at, enable
from tests.test_ws_lifecycle import receive_close

pytestmark = pytest.mark.usefixtures("backend")


async def delete_me(user, password: str = PASSWORD, **payload) -> tuple[int, dict]:
    return await user.call("DELETE", "/api/users/me", json=payload or {"password": password})


@pytest.fixture
async def trio(users):
    return [await users.make(name) for name in ("alice", "bob", "carol")]


async def test_deletion_signs_out_every_device_and_anonymises(client, engine, trio):
    alice, bob, _ = trio
    other = await login(client)
    sockets = [await connect(client, alice.token), await connect(client, other["token"])]
    (watcher,) = await online(bob)
    await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "goodbye"})

    status, body = await delete_me(alice)
    assert status == 200 and body["data"] is None, body
    for socket in sockets:
        assert (await receive_close(socket))[0] == 1008
    for token in (alice.token, other["token"]):
        assert (await call(client, "GET", "/api/users/me", token))[0] == 401
    assert (await client.post("/api/auth/refresh", json={"refresh_token": other["refresh_token"]})).status == 401
    for identity in ({"username": "alice"}, {"email": "alice@example.com"}):
        assert (await client.post("/api/auth/login", json={**identity, "password": PASSWORD})).status == 401

    profile = await bob.ok("GET", f"/api/users/{alice.id}")
    assert profile["nickname"] == "Deleted user" and profile["avatar"] is None and "alice" not in profile["username"], profile
    async with engine.connect() as conn:
        row = (await conn.execute(select(users_table).where(users_table.c.id == alice.id))).one()
    assert row.status == 0 and row.deleted_at is not None and not row.password_hash.startswith("$2b$")
    assert "alice" not in row.email
    # The message stays in bob's history, content kept (the default).
    conversations = await bob.ok("GET", "/api/conversations")
    history = await bob.ok("GET", f"/api/conversations/{conversations[0]['id']}/messages")
    assert [(m["sender_id"], m["content"]) for m in history if m["sender_id"] == alice.id] == [(alice.id, "goodbye")]
    await watcher.close()


async def test_wrong_missing_or_no_password_changes_nothing(client, trio):
    alice, _, _ = trio
    status, body = await delete_me(alice, "not my password")
    assert status == 403 and body["message"] == "current password is wrong", body
    for payload in ({}, {"password": ""}, {"password": PASSWORD, "extra": 1}):
        status, body = await alice.call("DELETE", "/api/users/me", json=payload)
        assert status == 422, body
    assert (await client.delete("/api/users/me", json={"password": PASSWORD})).status == 401
    assert (await alice.call("GET", "/api/users/me"))[0] == 200
    assert (await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})).status == 200


async def test_with_two_factor_on_a_code_is_asked_too(client, trio):
    """The password alone no longer deletes an account with two-factor: a missing code is 422
    on `code`, a wrong one 403; a code given with a wrong password is not spent."""
    alice, bob, _ = trio
    secret, codes = await enable(alice)
    status, body = await delete_me(alice)
    assert status == 422 and "code" in body["data"]["errors"], body
    wrong = "000000" if code_at(secret, 1) != "000000" else "111111"
    status, body = await alice.call("DELETE", "/api/users/me", json={"password": PASSWORD, "code": wrong})
    assert (status, body["message"]) == (403, "wrong two-factor code"), body
    status, body = await alice.call("DELETE", "/api/users/me", json={"password": "not my password", "code": codes[0]})
    assert (status, body["message"]) == (403, "current password is wrong"), body
    assert (await alice.call("GET", "/api/users/me"))[0] == 200
    assert (await alice.ok("GET", "/api/auth/2fa"))["recovery_codes_left"] == 10

    status, body = await alice.call("DELETE", "/api/users/me", json={"password": PASSWORD, "code": codes[0]})
    assert status == 200 and body["data"] is None, body
    assert (await alice.call("GET", "/api/users/me"))[0] == 401
    # Without two-factor the password is enough, as before.
    assert (await delete_me(bob))[0] == 200


async def test_nobody_writes_to_a_deleted_account(trio):
    """A direct conversation with a deleted account is closed: writing in it is the plain 403
    of the send path (REST and socket, by conversation or receiver id); starting one is 404 "no
    such user", as for a user that never existed. Its history stays readable; groups go on."""
    alice, bob, carol = trio
    pair = (await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"}))["conversation_id"]
    group = await make_group(bob, [alice, carol])
    (socket,) = await online(bob)
    assert (await delete_me(alice))[0] == 200

    for status, body in (
        await bob.call("POST", "/api/messages", json={"receiver_id": alice.id, "content": "still there?"}),
        await bob.call("POST", f"/api/conversations/{pair}/messages", json={"content": "still there?"}),
    ):
        assert (status, body["message"]) == (403, "not allowed"), body
    for payload in ({"receiver_id": alice.id, "content": "hello?"}, {"conversation_id": pair, "content": "hello?"}):
        reply = await socket.request("send_message", payload)
        assert (reply["code"], reply["message"]) == (403, "not allowed"), reply
    for status, body in (
        await carol.call("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"}),
        await carol.call("POST", "/api/conversations", json={"type": "direct", "peer_id": alice.id}),
        await bob.call("POST", "/api/conversations", json={"type": "direct", "peer_id": alice.id}),
    ):
        assert (status, body["message"]) == (404, "no such user"), body
    assert [m["content"] for m in await bob.ok("GET", f"/api/conversations/{pair}/messages")] == ["hi"]
    assert (await bob.call("POST", f"/api/conversations/{group['id']}/messages", json={"content": "on we go"}))[0] == 201
    # Others still write to each other.
    assert (await bob.call("POST", "/api/messages", json={"receiver_id": carol.id, "content": "hi carol"}))[0] == 201
    await socket.close()


async def test_the_username_is_held_back_the_email_is_free(client, trio):
    alice, _, _ = trio
    assert (await delete_me(alice))[0] == 200
    response = await client.post("/api/auth/register", json={"username": "ALICE", "email": "new@example.com", "password": PASSWORD})
    body = await response.json()
    assert response.status == 409 and body["data"]["fields"] == ["username"], body
    response = await client.post("/api/auth/register", json={"username": "alice2", "email": "alice@example.com", "password": PASSWORD})
    assert response.status == 201


async def test_the_username_is_free_again_once_the_hold_is_over(client, engine, trio):
    alice, _, _ = trio
    assert (await delete_me(alice))[0] == 200
    async with engine.begin() as conn:
        held = (await conn.execute(select(retired_usernames))).one()
        assert held.username == "alice" and held.retired_until > utc_now() + timedelta(days=179)
        await conn.execute(update(retired_usernames).values(retired_until=utc_now() - timedelta(seconds=1)))
    again = await UserFactory(client).make("alice")
    assert again.id != alice.id


async def test_without_a_hold_the_username_is_free_at_once(aiohttp_client, settings, engine):
    client = await aiohttp_client(create_app(settings.replace(deleted_username_hold_days=0)))
    alice = await UserFactory(client).make("alice")
    assert (await delete_me(alice))[0] == 200
    again = await UserFactory(client).make("alice")
    assert again.id != alice.id


async def test_the_files_are_no_longer_served(trio):
    alice, bob, _ = trio
    status, body = await alice.call("POST", "/api/files", data=form(PNG, content_type="image/png"))
    assert status == 201, body
    file = body["data"]
    reference = json.dumps({"file_id": file["id"], "name": file["name"], "size": file["size"], "mime": file["mime"]})
    await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": reference, "msg_type": 2})
    response = await bob.client.get(file["url"], headers=bob.auth)
    assert response.status == 200 and await response.read() == PNG
    assert (await delete_me(alice))[0] == 200
    status, body = await bob.call("GET", file["url"])
    assert status == 404, body


async def test_owned_groups_pass_to_the_oldest_admin_else_the_oldest_member(trio, users):
    alice, bob, carol = trio
    dave = await users.make("dave")
    with_admin = await make_group(alice, [bob, carol, dave], name="with admin")
    await alice.ok("PATCH", f"/api/conversations/{with_admin['id']}/members/{dave.id}", json={"role": "admin"})
    plain = await make_group(alice, [carol, bob], name="plain")
    alone = await make_group(alice, [], name="alone")
    (c,) = await online(carol)

    assert (await delete_me(alice))[0] == 200
    groups = {conv["id"]: conv for conv in await carol.ok("GET", "/api/conversations")}
    assert groups[with_admin["id"]]["owner_id"] == dave.id
    # Both joined at once: the lower id is the older member.
    assert groups[plain["id"]]["owner_id"] == min(bob.id, carol.id)
    updated = {event["id"]: event["owner_id"] for event in await take(c, "conversation.updated")}
    assert updated == {with_admin["id"]: dave.id, plain["id"]: min(bob.id, carol.id)}
    roles = {(event["conversation_id"], event["user_id"]): event["role"] for event in await take(c, "member.updated")}
    assert roles == {
        (with_admin["id"], dave.id): "owner",
        (with_admin["id"], alice.id): "member",
        (plain["id"], min(bob.id, carol.id)): "owner",
        (plain["id"], alice.id): "member",
    }
    members = {m["id"]: m["role"] for m in await dave.ok("GET", f"/api/conversations/{with_admin['id']}/members")}
    assert members[dave.id] == "owner" and members[alice.id] == "member"
    # The new owner acts as one.
    await dave.ok("PATCH", f"/api/conversations/{with_admin['id']}", json={"name": "renamed"})
    assert alone["id"] not in groups
    await c.close()


async def test_the_oldest_is_who_joined_first_not_the_lowest_id(trio, users):
    """Members and admins who joined later have the lower ids here: the one who joined first
    takes the group over (an admin before any member)."""
    alice, bob, carol = trio
    dave, erin = await users.make("dave"), await users.make("erin")
    members_only = await make_group(alice, [dave], name="members")
    admins = await make_group(alice, [erin], name="admins")
    for group in (members_only, admins):
        for late in (bob, carol):
            await asyncio.sleep(0.01)  # joined_at is in milliseconds
            await alice.ok("POST", f"/api/conversations/{group['id']}/members", json={"user_ids": [late.id]})
    # bob made an admin before erin: the order of promotion does not count, joining does.
    for admin in (bob, erin):
        await alice.ok("PATCH", f"/api/conversations/{admins['id']}/members/{admin.id}", json={"role": "admin"})

    assert (await delete_me(alice))[0] == 200
    owners = {conv["id"]: conv["owner_id"] for conv in await bob.ok("GET", "/api/conversations")}
    assert owners[members_only["id"]] == dave.id
    assert owners[admins["id"]] == erin.id


async def test_content_removed_when_the_setting_says_so(aiohttp_client, settings, engine):
    client = await aiohttp_client(create_app(settings.replace(deleted_user_content="remove")))
    alice, bob = [await UserFactory(client).make(name) for name in ("alice", "bob")]
    sent = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "secret plans"})
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "bob's words"})
    assert (await delete_me(alice))[0] == 200
    history = await bob.ok("GET", f"/api/conversations/{sent['conversation_id']}/messages")
    by_sender = {m["sender_id"]: m for m in history}
    assert (by_sender[alice.id]["content"], by_sender[alice.id]["status"]) == ("", 3)
    assert by_sender[bob.id]["content"] == "bob's words"
    status, body = await bob.call("GET", "/api/search", params={"q": "plans"})
    assert status == 200 and body["data"]["hits"] == [], body
