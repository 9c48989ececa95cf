"""/api/users: the caller's profile (GET/PATCH me), the directory with prefix search and keyset
paging, one user by id, and `online` following the user's sockets. Real HTTP, real MariaDB."""

from __future__ import annotations

import asyncio
import json

import pytest

from storage import users as user_store

USER_KEYS = {"id", "username", "nickname", "avatar", "online"}
ME_KEYS = USER_KEYS | {"email", "status", "created_at"}


def assert_error(status: int, body: dict, code: int) -> None:
    assert status == code, body
    assert set(body) == {"code", "message", "data"}, body
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]


async def add_users(engine, *names: str, nickname: str | None = None) -> list[int]:
    """Stored straight through the storage layer (fast: no bcrypt); they cannot log in."""
    ids = []
    async with engine.begin() as conn:
        for name in names:
            row = await user_store.insert_user(conn, username=name, email=f"{name}@example.com", password_hash="x", nickname=nickname)
            ids.append(row.id)
    return ids


async def set_nickname(engine, user_id: int, nickname: str | None) -> None:
    async with engine.begin() as conn:
        await user_store.update_profile(conn, user_id, {"nickname": nickname})


def names(listing: list[dict]) -> list[str]:
    return [user["username"] for user in listing]


@pytest.fixture
async def alice(users):
    return await users.make("alice")


# --- me -------------------------------------------------------------------------------------


async def test_get_me(alice):
    status, body = await alice.call("GET", "/api/users/me")
    assert status == 200 and body["code"] == 200 and body["message"] == "ok"
    me = body["data"]
    assert set(me) == ME_KEYS
    assert me["id"] == alice.id and me["username"] == "alice" and me["email"] == "alice@example.com"
    assert me["status"] == 1 and me["online"] is False
    assert isinstance(me["created_at"], int)
    assert "password" not in json.dumps(body)


async def test_patch_me_changes_nickname_and_avatar(alice):
    before = await alice.ok("GET", "/api/users/me")
    me = await alice.ok("PATCH", "/api/users/me", json={"nickname": "Ally", "avatar": "https://example.com/a.png"})
    assert me["nickname"] == "Ally" and me["avatar"] == "https://example.com/a.png"
    assert {key: me[key] for key in ("id", "username", "email", "status", "created_at")} == {
        key: before[key] for key in ("id", "username", "email", "status", "created_at")
    }
    assert set(me) == ME_KEYS
    assert await alice.ok("GET", "/api/users/me") == me
    # Only the field given changes.
    me = await alice.ok("PATCH", "/api/users/me", json={"avatar": "b.png"})
    assert me["nickname"] == "Ally" and me["avatar"] == "b.png"


async def test_patch_me_accepts_null_and_empty_object(alice):
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Ally", "avatar": "a.png"})
    me = await alice.ok("PATCH", "/api/users/me", json={"nickname": None})
    assert me["nickname"] is None and me["avatar"] == "a.png"
    me = await alice.ok("PATCH", "/api/users/me", json={"avatar": None})
    assert me["avatar"] is None
    me = await alice.ok("PATCH", "/api/users/me", json={})
    assert me["nickname"] is None and me["username"] == "alice"


async def test_patch_me_multibyte_nickname(alice):
    me = await alice.ok("PATCH", "/api/users/me", json={"nickname": "爱丽丝😀" * 10})  # 50 characters
    assert me["nickname"] == "爱丽丝😀" * 10


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"nickname": ""}, "nickname"),
        ({"nickname": "n" * 65}, "nickname"),
        ({"nickname": 42}, "nickname"),
        ({"avatar": "a" * 256}, "avatar"),
        ({"avatar": ["a"]}, "avatar"),
        ({"username": "mallory"}, "username"),
        ({"email": "x@example.com"}, "email"),
        ({"status": 0}, "status"),
        ({"password": "new password"}, "password"),
    ],
)
async def test_patch_me_422_keyed_by_field(alice, payload, field):
    status, body = await alice.call("PATCH", "/api/users/me", json=payload)
    assert_error(status, body, 422)
    assert field in body["data"]["errors"], body
    me = await alice.ok("GET", "/api/users/me")
    assert me["username"] == "alice" and me["nickname"] is None and me["status"] == 1


@pytest.mark.parametrize(
    ("data", "content_type"),
    [(b"{nope", "application/json"), (b"[]", "application/json"), (b'{"nickname": "x"}', "text/plain")],
)
async def test_patch_me_400_for_a_malformed_body(alice, data, content_type):
    response = await alice.client.patch("/api/users/me", data=data, headers={**alice.auth, "Content-Type": content_type})
    assert_error(response.status, await response.json(), 400)


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/users/me"), ("PATCH", "/api/users/me"), ("GET", "/api/users"), ("GET", "/api/users/1")])
async def test_user_routes_need_a_token(client, method, path):
    response = await client.request(method, path, json={})
    assert_error(response.status, await response.json(), 401)


# --- the directory --------------------------------------------------------------------------


async def test_list_users_by_id_ascending_with_user_vos(alice, engine):
    await add_users(engine, "zed", "bob", "mia")
    listing = await alice.ok("GET", "/api/users")
    assert names(listing) == ["alice", "zed", "bob", "mia"]
    ids = [user["id"] for user in listing]
    assert ids == sorted(ids)
    for user in listing:
        assert set(user) == USER_KEYS  # no email, status or password hash of other users


async def test_search_by_username_prefix(backend, alice, engine):
    await add_users(engine, "alicia", "bob", "malice", "ali")
    assert names(await alice.ok("GET", "/api/users", params={"q": "ali"})) == ["alice", "alicia", "ali"]
    assert names(await alice.ok("GET", "/api/users", params={"q": "alic"})) == ["alice", "alicia"]
    assert names(await alice.ok("GET", "/api/users", params={"q": "lice"})) == []  # a prefix, not a substring
    assert names(await alice.ok("GET", "/api/users", params={"q": "ALI"})) == ["alice", "alicia", "ali"]
    assert names(await alice.ok("GET", "/api/users", params={"q": ""})) == ["alice", "alicia", "bob", "malice", "ali"]


async def test_search_by_nickname_prefix(alice, engine):
    bob, carol = await add_users(engine, "bob", "carol")
    await set_nickname(engine, bob, "Ali Baba")
    await set_nickname(engine, carol, "Sir Ali")
    assert names(await alice.ok("GET", "/api/users", params={"q": "Ali"})) == ["alice", "bob"]
    assert names(await alice.ok("GET", "/api/users", params={"q": "Ali B"})) == ["bob"]
    assert names(await alice.ok("GET", "/api/users", params={"q": "Sir"})) == ["carol"]


async def test_search_treats_like_wildcards_literally(backend, alice, engine):
    under, plain, percent, backslash = await add_users(engine, "a_b1", "axb2", "pct", "bsl")
    await set_nickname(engine, percent, "100%real")
    await set_nickname(engine, backslash, "back\\slash")
    assert names(await alice.ok("GET", "/api/users", params={"q": "a_"})) == ["a_b1"]
    assert names(await alice.ok("GET", "/api/users", params={"q": "_"})) == []
    assert names(await alice.ok("GET", "/api/users", params={"q": "%"})) == []
    assert names(await alice.ok("GET", "/api/users", params={"q": "100%"})) == ["pct"]
    assert names(await alice.ok("GET", "/api/users", params={"q": "10%"})) == []
    assert names(await alice.ok("GET", "/api/users", params={"q": "back\\"})) == ["bsl"]
    assert names(await alice.ok("GET", "/api/users", params={"q": "\\"})) == []
    assert names(await alice.ok("GET", "/api/users", params={"q": "'; DROP TABLE users; --"})) == []
    assert len(await alice.ok("GET", "/api/users")) == 5


async def test_default_limit_is_50_and_limit_is_honoured(alice, engine):
    await add_users(engine, *(f"user{n:03d}" for n in range(60)))
    assert len(await alice.ok("GET", "/api/users")) == 50
    assert len(await alice.ok("GET", "/api/users", params={"limit": "100"})) == 61
    assert names(await alice.ok("GET", "/api/users", params={"limit": "2"})) == ["alice", "user000"]
    assert len(await alice.ok("GET", "/api/users", params={"limit": "1"})) == 1


async def test_keyset_paging_with_after(backend, alice, engine):
    await add_users(engine, *(f"user{n:02d}" for n in range(11)))
    everyone = await alice.ok("GET", "/api/users")
    pages, after = [], None
    while True:
        params = {"limit": "5", **({"after": str(after)} if after is not None else {})}
        page = await alice.ok("GET", "/api/users", params=params)
        if not page:
            break
        assert len(page) <= 5
        pages.append(page)
        after = page[-1]["id"]
    assert [len(page) for page in pages] == [5, 5, 2]
    assert [user for page in pages for user in page] == everyone
    # `after` is exclusive and combines with q.
    assert (await alice.ok("GET", "/api/users", params={"after": str(everyone[0]["id"])}))[0] == everyone[1]
    assert names(await alice.ok("GET", "/api/users", params={"q": "user0", "after": str(everyone[3]["id"])})) == [
        f"user{n:02d}" for n in range(3, 10)
    ]
    assert await alice.ok("GET", "/api/users", params={"after": str(everyone[-1]["id"])}) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "101"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-5"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"after": "abc"}, "after"),
        ({"after": "-1"}, "after"),
        ({"q": "x" * 65}, "q"),
        ({"sort": "name"}, "sort"),
    ],
)
async def test_list_users_422(alice, params, field):
    status, body = await alice.call("GET", "/api/users", params=params)
    assert_error(status, body, 422)
    assert field in body["data"]["errors"], body


# --- one user -------------------------------------------------------------------------------


async def test_get_user_by_id(alice, users):
    bob = await users.make("bob")
    await bob.ok("PATCH", "/api/users/me", json={"nickname": "Bobby"})
    user = await alice.ok("GET", f"/api/users/{bob.id}")
    assert user == {"id": bob.id, "username": "bob", "nickname": "Bobby", "avatar": None, "online": False}
    assert (await alice.ok("GET", f"/api/users/{alice.id}"))["username"] == "alice"


@pytest.mark.parametrize("raw", ["999999", "0", "-1", "abc", "1.5", "1e3", "%20", "99999999999999999999999999"])
async def test_get_user_404(alice, raw):
    status, body = await alice.call("GET", f"/api/users/{raw}")
    assert_error(status, body, 404)


@pytest.mark.parametrize("raw", ["%C2%B2", "%D9%A1"])
async def test_get_user_non_ascii_digit_is_404(alice, raw):
    status, body = await alice.call("GET", f"/api/users/{raw}")
    assert_error(status, body, 404)


# --- online ---------------------------------------------------------------------------------


async def wait_for_online(viewer, user_id: int, expected: bool, timeout: float = 3.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        user = await viewer.ok("GET", f"/api/users/{user_id}")
        if user["online"] is expected or asyncio.get_running_loop().time() > deadline:
            return user
        await asyncio.sleep(0.05)


async def test_online_follows_open_sockets(alice, users):
    bob = await users.make("bob")
    assert (await alice.ok("GET", f"/api/users/{bob.id}"))["online"] is False

    first = await bob.connect()
    second = await bob.connect()
    # The socket is registered once the handshake is done: no waiting needed.
    assert (await alice.ok("GET", f"/api/users/{bob.id}"))["online"] is True
    listing = {user["username"]: user["online"] for user in await alice.ok("GET", "/api/users")}
    assert listing == {"alice": False, "bob": True}
    assert (await bob.ok("GET", "/api/users/me"))["online"] is True

    await first.close()
    # Still one socket open: still online.
    await asyncio.sleep(0.2)
    assert (await alice.ok("GET", f"/api/users/{bob.id}"))["online"] is True

    await second.close()
    assert (await wait_for_online(alice, bob.id, False))["online"] is False
    assert (await bob.ok("GET", "/api/users/me"))["online"] is False
