"""Register, login, logout, tokens and login throttling over real HTTP on loopback, against a
fresh MariaDB database per test (PROTOCOL §1, §2, §3 auth, §5 login attempts)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time

import bcrypt
import jwt
import pytest
from aiohttp import WSServerHandshakeError
from sqlalchemy import select

from handlers.errors import RateLimited, Unauthorized
from handlers.services.auth import AuthService
from handlers.services.login_throttle import WINDOW_SECONDS, LoginThrottle
from handlers.services.tokens import issue_token
from server.app import create_app
from storage import users as user_store
from storage.tables import users as users_table
from tests.chat import PASSWORD

ME_KEYS = {"id", "username", "nickname", "avatar", "online", "email", "status", "created_at"}


def assert_error(status: int, body: dict, code: int) -> None:
    assert status == code, body
    assert set(body) == {"code", "message", "data"}, body
    assert body["code"] == code
    assert isinstance(body["message"], str) and body["message"]


async def post(client, path: str, payload=None, **kwargs) -> tuple[int, dict]:
    if payload is not None:
        kwargs["json"] = payload
    response = await client.post(path, **kwargs)
    return response.status, await response.json()


async def register(client, username: str, password: str = PASSWORD, **extra) -> tuple[int, dict]:
    payload = {"username": username, "email": f"{username}@example.com", "password": password, **extra}
    return await post(client, "/api/auth/register", payload)


async def login(client, password: str = PASSWORD, **identity) -> tuple[int, dict]:
    return await post(client, "/api/auth/login", {**identity, "password": password})


async def me(client, token: str | None = None, **headers) -> tuple[int, dict]:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = await client.get("/api/users/me", headers=headers)
    return response.status, await response.json()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- register -------------------------------------------------------------------------------


async def test_register_answers_201_with_a_me_vo(client):
    before = int(time.time() * 1000)
    response = await client.post("/api/auth/register", json={"username": "alice", "email": "alice@example.com", "password": PASSWORD})
    text = await response.text()
    body = json.loads(text)
    assert response.status == 201 and body["code"] == 201 and body["message"] == "ok"
    user = body["data"]
    assert set(user) == ME_KEYS
    assert isinstance(user["id"], int)
    assert user["username"] == "alice" and user["email"] == "alice@example.com"
    assert user["nickname"] is None and user["avatar"] is None
    assert user["status"] == 1 and user["online"] is False
    assert before - 1000 <= user["created_at"] <= int(time.time() * 1000) + 1000
    assert "password" not in text and "$2b$" not in text


async def test_register_with_nickname(client):
    status, body = await register(client, "bob", nickname="Bobby")
    assert status == 201
    assert body["data"]["nickname"] == "Bobby"


async def test_password_is_stored_only_as_a_bcrypt_hash(client, engine):
    status, body = await register(client, "carol", password="my secret words")
    assert status == 201
    async with engine.connect() as conn:
        row = await user_store.get_user(conn, body["data"]["id"])
    assert row.password_hash.startswith("$2")
    assert "my secret words" not in row.password_hash


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        (("alice", "alice@example.com"), ("alice", "other@example.com"), "username"),
        (("alice", "alice@example.com"), ("ALICE", "other@example.com"), "username"),
        (("alice", "alice@example.com"), ("Alice", "other@example.com"), "username"),
        (("alice", "alice@example.com"), ("bob", "alice@example.com"), "email"),
        (("alice", "alice@example.com"), ("bob", "ALICE@Example.COM"), "email"),
    ],
)
async def test_register_conflict_409_ignores_letter_case(client, first, second, field):
    status, _ = await post(client, "/api/auth/register", {"username": first[0], "email": first[1], "password": PASSWORD})
    assert status == 201
    status, body = await post(client, "/api/auth/register", {"username": second[0], "email": second[1], "password": PASSWORD})
    assert_error(status, body, 409)
    assert field in body["message"]
    # Nothing was stored by the refused registration.
    status, _ = await login(client, username=second[0]) if field == "email" else await login(client, email=second[1])
    assert status == 401


async def test_concurrent_registrations_of_one_name_store_one_user(client, engine):
    results = await asyncio.gather(*(register(client, "racer") for _ in range(5)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 409, 409, 409, 409], results
    async with engine.connect() as conn:
        count = len((await conn.execute(select(users_table.c.id).where(users_table.c.username == "racer"))).all())
    assert count == 1


VALID = {"username": "valid_name", "email": "valid@example.com", "password": "secret1"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"username": "ab"}, "username"),
        ({"username": "a" * 33}, "username"),
        ({"username": "bad-name"}, "username"),
        ({"username": "bad name"}, "username"),
        ({"username": "abc\n"}, "username"),
        ({"username": "日本語ユーザー"}, "username"),
        ({"username": 12345}, "username"),
        ({"username": None}, "username"),
        ({"email": "not-an-email"}, "email"),
        ({"email": ""}, "email"),
        ({"email": "a" * 120 + "@example.com"}, "email"),
        ({"password": "12345"}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"password": 123456}, "password"),
        ({"nickname": ""}, "nickname"),
        ({"nickname": "n" * 65}, "nickname"),
        ({"is_admin": True}, "is_admin"),
        ({"status": 0}, "status"),
    ],
)
async def test_register_422_keyed_by_field(client, changes, field):
    status, body = await post(client, "/api/auth/register", {**VALID, **changes})
    assert_error(status, body, 422)
    errors = body["data"]["errors"]
    assert field in errors, errors
    assert all(isinstance(reason, str) for reason in errors[field])


@pytest.mark.parametrize("missing", ["username", "email", "password"])
async def test_register_422_for_a_missing_field(client, missing):
    payload = {key: value for key, value in VALID.items() if key != missing}
    status, body = await post(client, "/api/auth/register", payload)
    assert_error(status, body, 422)
    assert set(body["data"]["errors"]) == {missing}


async def test_register_reports_every_bad_field_at_once(client):
    status, body = await post(client, "/api/auth/register", {"username": "x", "email": "nope", "password": "123"})
    assert_error(status, body, 422)
    assert set(body["data"]["errors"]) == {"username", "email", "password"}


@pytest.mark.parametrize(
    ("username", "password"),
    [("abc", "123456"), ("a" * 32, "p" * 128), ("Under_Score_9", "é" * 6), ("emoji_pw", "😀" * 128)],
)
async def test_register_boundaries_are_accepted(client, username, password):
    status, body = await register(client, username, password=password)
    assert status == 201, body
    status, body = await login(client, username=username, password=password)
    assert status == 200, body


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        (b"{not json", {"Content-Type": "application/json"}),
        (b"", {"Content-Type": "application/json"}),
        (b"null", {"Content-Type": "application/json"}),
        (b'"a string"', {"Content-Type": "application/json"}),
        (b'[{"username": "alice"}]', {"Content-Type": "application/json"}),
        (b"\xff\xfe\x00", {"Content-Type": "application/json"}),
        (json.dumps(VALID).encode(), {"Content-Type": "text/plain"}),
        (json.dumps(VALID).encode(), {"Content-Type": "application/x-www-form-urlencoded"}),
        (json.dumps(VALID).encode(), {}),
    ],
)
@pytest.mark.parametrize("path", ["/api/auth/register", "/api/auth/login"])
async def test_malformed_body_is_400(client, path, data, headers):
    response = await client.post(path, data=data, headers=headers)
    body = await response.json()
    assert_error(response.status, body, 400)


async def test_json_content_type_with_charset_is_accepted(client):
    response = await client.post(
        "/api/auth/register", data=json.dumps(VALID).encode(), headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert response.status == 201, await response.text()


# --- login ----------------------------------------------------------------------------------


async def test_login_by_username(client, settings):
    _, registered = await register(client, "alice")
    status, body = await login(client, username="alice")
    assert status == 200 and body["code"] == 200 and body["message"] == "ok"
    data = body["data"]
    assert set(data) == {"token", "token_type", "expires_in", "refresh_token", "refresh_expires_in", "session_id", "user"}
    assert data["token_type"] == "Bearer"
    assert data["expires_in"] == settings.jwt_ttl_seconds
    assert data["refresh_expires_in"] == settings.refresh_ttl_seconds
    assert data["user"] == registered["data"]
    assert "password" not in json.dumps(body)

    header = jwt.get_unverified_header(data["token"])
    assert header["alg"] == "HS256"
    claims = jwt.decode(data["token"], settings.jwt_secret, algorithms=["HS256"])
    assert claims["sub"] == str(registered["data"]["id"])
    assert {"sub", "iat", "exp", "jti"} <= set(claims)
    assert claims["sid"] == data["session_id"]
    assert claims["exp"] - claims["iat"] == settings.jwt_ttl_seconds

    status, body = await me(client, data["token"])
    assert status == 200 and body["data"]["id"] == registered["data"]["id"]


async def test_login_by_email(client):
    _, registered = await register(client, "alice")
    status, body = await login(client, email="alice@example.com")
    assert status == 200, body
    assert body["data"]["user"]["id"] == registered["data"]["id"]


async def test_login_ignores_letter_case_of_username_and_email(client):
    await register(client, "alice")
    assert (await login(client, username="ALICE"))[0] == 200
    assert (await login(client, email="Alice@Example.com"))[0] == 200


async def test_every_login_issues_a_distinct_token(client, settings):
    await register(client, "alice")
    tokens = [(await login(client, username="alice"))[1]["data"]["token"] for _ in range(2)]
    jtis = {jwt.decode(token, settings.jwt_secret, algorithms=["HS256"])["jti"] for token in tokens}
    assert len(jtis) == 2


async def test_bad_credentials_401_with_one_message(client):
    await register(client, "alice")
    answers = [
        await login(client, username="alice", password="wrong password"),
        await login(client, username="nobody", password=PASSWORD),
        await login(client, email="alice@example.com", password="wrong password"),
        await login(client, email="nobody@example.com", password=PASSWORD),
    ]
    for status, body in answers:
        assert_error(status, body, 401)
        assert body["data"] is None
    assert len({body["message"] for _, body in answers}) == 1


@pytest.mark.parametrize(
    "payload",
    [
        {"password": PASSWORD},
        {"username": "alice", "email": "alice@example.com", "password": PASSWORD},
        {"username": "alice"},
        {"username": "alice", "password": ""},
        {"username": "alice", "password": PASSWORD, "remember": True},
        {"username": 5, "password": PASSWORD},
    ],
)
async def test_login_422(client, payload):
    await register(client, "alice")
    status, body = await post(client, "/api/auth/login", payload)
    assert_error(status, body, 422)
    assert body["data"]["errors"]


async def test_disabled_user_cannot_log_in(client, engine):
    _, registered = await register(client, "alice")
    _, logged_in = await login(client, username="alice")
    async with engine.begin() as conn:
        await user_store.update_profile(conn, registered["data"]["id"], {"status": 0})
    status, body = await login(client, username="alice")
    assert_error(status, body, 403)
    # A wrong password still says only "bad credentials": nothing about the account leaks.
    status, body = await login(client, username="alice", password="wrong password")
    assert_error(status, body, 401)
    # And the token issued before the account was disabled no longer works.
    status, body = await me(client, logged_in["data"]["token"])
    assert_error(status, body, 403)


# --- the 72-byte case -----------------------------------------------------------------------


async def test_every_character_of_a_long_password_counts(client):
    common = "p" * 80
    status, _ = await register(client, "alice", password=common + "-first")
    assert status == 201
    assert (await login(client, username="alice", password=common + "-second"))[0] == 401
    assert (await login(client, username="alice", password=common))[0] == 401
    assert (await login(client, username="alice", password=common + "-first"))[0] == 200


async def test_multibyte_passwords_past_72_bytes(client):
    password = "密" * 127 + "码"  # 128 characters, 384 bytes in UTF-8
    status, body = await register(client, "alice", password=password)
    assert status == 201, body
    assert (await login(client, username="alice", password=password))[0] == 200
    assert (await login(client, username="alice", password="密" * 128))[0] == 401
    # 24 three-byte characters fill bcrypt's 72 bytes exactly: the rest must still count.
    assert (await login(client, username="alice", password="密" * 24))[0] == 401


@pytest.mark.parametrize("password", ["x" * 129, "😀" * 300, "\x00" * 10, "a\x00b" * 40])
async def test_odd_passwords_at_login_never_500(client, password):
    await register(client, "alice")
    status, body = await login(client, username="alice", password=password)
    assert_error(status, body, 401)


async def test_nul_bytes_in_a_password_are_significant(client):
    status, _ = await register(client, "alice", password="abc\x00def")
    assert status == 201
    assert (await login(client, username="alice", password="abc"))[0] == 401
    assert (await login(client, username="alice", password="abc\x00xyz"))[0] == 401
    assert (await login(client, username="alice", password="abc\x00def"))[0] == 200


# --- tokens ---------------------------------------------------------------------------------


@pytest.fixture
async def alice(users):
    return await users.make("alice")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ=="},
        {"Authorization": "Token abc"},
    ],
)
async def test_missing_or_malformed_token_401(client, alice, headers):
    status, body = await me(client, **headers)
    assert_error(status, body, 401)


async def test_token_in_the_query_string_is_not_taken_on_rest(client, alice):
    response = await client.get("/api/users/me", params={"token": alice.token})
    assert_error(response.status, await response.json(), 401)


async def test_forged_token_401(client, alice):
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    forged = jwt.encode(claims, "some-other-secret-of-sufficient-length", algorithm="HS256")
    status, body = await me(client, forged)
    assert_error(status, body, 401)


async def test_token_with_a_tampered_payload_401(client, alice, users):
    bob = await users.make("bob")
    header, payload, signature = alice.token.split(".")
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    claims["sub"] = str(bob.id)
    tampered = ".".join([header, b64url(json.dumps(claims).encode()), signature])
    status, body = await me(client, tampered)
    assert_error(status, body, 401)


async def test_expired_token_401(client, settings, alice):
    token, _ = issue_token(alice.id, settings.jwt_secret, -5)
    status, body = await me(client, token)
    assert_error(status, body, 401)


async def test_short_lived_token_expires(client, settings, alice):
    # exp is whole seconds: a 1 s token issued at x.999 would be expired at once.
    token, claims = issue_token(alice.id, settings.jwt_secret, 5)
    assert (await me(client, token))[0] == 200
    await asyncio.sleep(max(0.0, claims.expires_at - time.time()) + 1.1)
    status, body = await me(client, token)
    assert_error(status, body, 401)


async def test_fresh_token_from_issue_token_works(client, settings, alice):
    token, _ = issue_token(alice.id, settings.jwt_secret, 60)
    status, body = await me(client, token)
    assert status == 200 and body["data"]["id"] == alice.id


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_token_401(client, alice, alg):
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    unsigned = f"{b64url(json.dumps({'alg': alg, 'typ': 'JWT'}).encode())}.{b64url(json.dumps(claims).encode())}."
    status, body = await me(client, unsigned)
    assert_error(status, body, 401)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_other_algorithm_with_the_right_secret_401(client, settings, alice):
    """Algorithms are pinned on decode: HS512 is refused even with the server's own secret."""
    claims = jwt.decode(alice.token, options={"verify_signature": False})
    other = jwt.encode(claims, settings.jwt_secret, algorithm="HS512")
    status, body = await me(client, other)
    assert_error(status, body, 401)


@pytest.mark.parametrize("missing", ["sub", "exp", "jti", "iat"])
async def test_token_without_a_required_claim_401(client, settings, alice, missing):
    now = int(time.time())
    claims = {"sub": str(alice.id), "iat": now, "exp": now + 60, "jti": "x" * 32}
    del claims[missing]
    token = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    status, body = await me(client, token)
    assert_error(status, body, 401)


@pytest.mark.parametrize("sub", ["alice", "", "1.5", "-1"])
async def test_token_with_a_bad_subject_401(client, settings, alice, sub):
    now = int(time.time())
    token = jwt.encode({"sub": sub, "iat": now, "exp": now + 60, "jti": "y" * 32}, settings.jwt_secret, algorithm="HS256")
    status, body = await me(client, token)
    assert_error(status, body, 401)


async def test_token_of_a_deleted_user_401(client, engine, alice):
    assert (await me(client, alice.token))[0] == 200
    async with engine.begin() as conn:
        await conn.execute(users_table.delete().where(users_table.c.id == alice.id))
    status, body = await me(client, alice.token)
    assert_error(status, body, 401)


async def test_logout_revokes_only_that_token(client, alice):
    _, second = await login(client, username="alice")
    other_token = second["data"]["token"]

    response = await client.post("/api/auth/logout", headers=alice.auth)
    body = await response.json()
    assert response.status == 200 and body == {"code": 200, "message": "ok", "data": None}

    status, body = await me(client, alice.token)
    assert_error(status, body, 401)
    response = await client.post("/api/auth/logout", headers=alice.auth)
    assert_error(response.status, await response.json(), 401)

    status, body = await me(client, other_token)
    assert status == 200 and body["data"]["id"] == alice.id
    # The revoked token opens no new socket either.
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect("/ws", headers=alice.auth)
    assert refused.value.status == 401
    ws = await client.ws_connect("/ws", headers={"Authorization": f"Bearer {other_token}"})
    await ws.close()


async def test_logout_closes_that_tokens_sockets_with_1008(client, alice):
    _, second = await login(client, username="alice")
    kept = await client.ws_connect("/ws", headers={"Authorization": f"Bearer {second['data']['token']}"})
    closed = await alice.connect()
    assert (await alice.call("POST", "/api/auth/logout"))[0] == 200
    message = await closed.ws.receive(timeout=5)
    assert closed.ws.close_code == 1008, message
    await kept.send_str(json.dumps({"type": "ping", "id": 1}))
    reply = json.loads((await kept.receive(timeout=5)).data)
    assert reply["code"] == 200 and reply["id"] == 1
    await kept.close()


async def test_logout_needs_a_token(client):
    response = await client.post("/api/auth/logout")
    assert_error(response.status, await response.json(), 401)


# --- bcrypt stays off the event loop --------------------------------------------------------


async def test_bcrypt_runs_in_another_thread(client, monkeypatch):
    """Spies (does not replace) bcrypt's two calls and records the thread each ran in."""
    threads: list[tuple[str, int]] = []
    real_hashpw, real_checkpw = bcrypt.hashpw, bcrypt.checkpw

    def hashpw(*args):
        threads.append(("hashpw", threading.get_ident()))
        return real_hashpw(*args)

    def checkpw(*args):
        threads.append(("checkpw", threading.get_ident()))
        return real_checkpw(*args)

    monkeypatch.setattr(bcrypt, "hashpw", hashpw)
    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    await register(client, "alice")
    await login(client, username="alice")
    await login(client, username="alice", password="wrong password")
    await login(client, username="nobody")
    loop_thread = threading.get_ident()
    names = [name for name, _ in threads]
    assert "hashpw" in names and names.count("checkpw") >= 3, threads
    assert all(ident != loop_thread for _, ident in threads), threads


@pytest.fixture
async def slow_hash_client(aiohttp_client, settings, engine):
    return await aiohttp_client(create_app(settings.replace(bcrypt_rounds=12)))


async def test_event_loop_keeps_running_during_a_cost_12_login(slow_hash_client):
    status, _ = await register(slow_hash_client, "alice")
    assert status == 201
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.002)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    status, _ = await login(slow_hash_client, username="alice")
    done.set()
    await task
    assert status == 200
    # A cost-12 bcrypt takes ~200 ms; had it blocked the loop the ticker could not have moved
    # more than a handful of times around the few milliseconds of HTTP and SQL.
    assert ticks >= 25, ticks


# --- login throttling -----------------------------------------------------------------------

LIMIT = 3


@pytest.fixture
async def throttled(aiohttp_client, settings, engine):
    return await aiohttp_client(create_app(settings.replace(login_attempts_per_minute=LIMIT)))


def assert_throttled(response_status: int, headers, body: dict) -> None:
    assert_error(response_status, body, 429)
    retry_after = int(headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW_SECONDS
    assert 0 < body["data"]["retry_after_ms"] <= WINDOW_SECONDS * 1000 + 1


async def test_throttle_after_failed_attempts_even_with_the_right_password(throttled):
    await register(throttled, "alice")
    for _ in range(LIMIT):
        status, body = await login(throttled, username="alice", password="wrong password")
        assert_error(status, body, 401)
    response = await throttled.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert_throttled(response.status, response.headers, await response.json())
    # Also by email: it is the same account.
    response = await throttled.post("/api/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert_throttled(response.status, response.headers, await response.json())


async def test_throttle_per_address_covers_other_accounts(throttled):
    await register(throttled, "alice")
    await register(throttled, "bob")
    for _ in range(LIMIT):
        assert (await login(throttled, username="nobody", password="guess"))[0] == 401
    response = await throttled.post("/api/auth/login", json={"username": "bob", "password": PASSWORD})
    assert_throttled(response.status, response.headers, await response.json())


async def test_successful_logins_are_not_counted(throttled):
    await register(throttled, "alice")
    for _ in range(LIMIT * 2):
        assert (await login(throttled, username="alice"))[0] == 200
    assert (await login(throttled, username="alice", password="wrong password"))[0] == 401
    assert (await login(throttled, username="alice"))[0] == 200


async def test_validation_errors_are_not_counted(throttled):
    await register(throttled, "alice")
    for _ in range(LIMIT * 2):
        assert (await post(throttled, "/api/auth/login", {"username": "alice"}))[0] == 422
    assert (await login(throttled, username="alice"))[0] == 200


async def test_concurrent_guesses_cannot_outrun_the_throttle(throttled):
    """All guesses fired at once: no more than the limit may be checked against the hash."""
    await register(throttled, "alice")
    results = await asyncio.gather(*(login(throttled, username="alice", password=f"guess {n}") for n in range(12)))
    statuses = [status for status, _ in results]
    assert statuses.count(401) <= LIMIT, statuses
    assert set(statuses) <= {401, 429}, statuses


@pytest.fixture
def auth_service(engine, settings) -> AuthService:
    """The real service on the test database: lets a test choose the client address."""
    return AuthService(engine, settings.replace(login_attempts_per_minute=LIMIT))


async def test_throttle_per_account_across_addresses(client, auth_service):
    await register(client, "alice")
    await register(client, "bob")
    for n in range(LIMIT):
        with pytest.raises(Unauthorized):
            await auth_service.login(username="alice", email=None, password="wrong", client_address=f"10.0.0.{n}")
    with pytest.raises(RateLimited):
        await auth_service.login(username="alice", email=None, password=PASSWORD, client_address="10.0.1.1")
    # Another account from a fresh address is not affected.
    result = await auth_service.login(username="bob", email=None, password=PASSWORD, client_address="10.0.1.2")
    assert result["user"]["username"] == "bob"


async def test_throttle_counts_username_and_email_attempts_on_one_account(client, auth_service):
    await register(client, "alice")
    identities = [{"username": "alice", "email": None}, {"username": None, "email": "alice@example.com"}, {"username": "ALICE", "email": None}]
    for n, identity in enumerate(identities[:LIMIT]):
        with pytest.raises(Unauthorized):
            await auth_service.login(**identity, password="wrong", client_address=f"10.0.0.{n}")
    with pytest.raises(RateLimited):
        await auth_service.login(username=None, email="ALICE@example.com", password=PASSWORD, client_address="10.0.1.1")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_window_expires():
    clock = FakeClock()
    throttle = LoginThrottle(3, clock=clock)
    keys = ("account:alice", "address:10.0.0.1")
    for _ in range(3):
        throttle.check(*keys)
        throttle.record_failure(*keys)
        clock.now += 10  # failures at 1000, 1010, 1020
    with pytest.raises(RateLimited) as limited:
        throttle.check(*keys)
    assert limited.value.retry_after_seconds == pytest.approx(30)  # the oldest is 30 s old
    assert limited.value.data["retry_after_ms"] == pytest.approx(30_000, abs=1)
    clock.now = 1000 + WINDOW_SECONDS - 0.001
    with pytest.raises(RateLimited):
        throttle.check(*keys)
    clock.now = 1000 + WINDOW_SECONDS
    throttle.check(*keys)  # the oldest failure left the window
    throttle.record_failure(*keys)
    with pytest.raises(RateLimited) as limited:
        throttle.check(*keys)
    assert limited.value.retry_after_seconds == pytest.approx(10)
    clock.now = 1020 + WINDOW_SECONDS
    throttle.check(*keys)


def test_throttle_keys_are_independent():
    clock = FakeClock()
    throttle = LoginThrottle(2, clock=clock)
    throttle.record_failure("account:alice", "address:a")
    throttle.record_failure("account:alice", "address:b")
    with pytest.raises(RateLimited):
        throttle.check("account:alice", "address:c")  # per account
    throttle.check("account:bob", "address:c")
    throttle.record_failure("account:bob", "address:c")
    throttle.record_failure("account:carol", "address:c")
    with pytest.raises(RateLimited):
        throttle.check("account:dave", "address:c")  # per address
    throttle.check("account:dave", "address:d")
    clock.now += WINDOW_SECONDS
    throttle.check("account:alice", "address:c")


def test_throttle_counts_an_attempt_in_flight_until_forgiven():
    clock = FakeClock()
    throttle = LoginThrottle(2, clock=clock)
    keys = ("user:1", "address:a")
    first = throttle.begin(*keys)
    throttle.begin(*keys)
    with pytest.raises(RateLimited):
        throttle.begin(*keys)  # two attempts still being checked use up the limit
    throttle.forgive(first, *keys)  # the first one had the right password
    throttle.begin(*keys)
    with pytest.raises(RateLimited):
        throttle.check(*keys)


async def test_conflict_names_the_field_the_database_refuses(client):
    """MariaDB's utf8mb4_unicode_ci also ignores accents, so its unique index takes "é@…" for
    "e@…": the 409 must then name the email, not the (free) username."""
    assert (await post(client, "/api/auth/register", {"username": "first", "email": "e@example.com", "password": PASSWORD}))[0] == 201
    status, body = await post(client, "/api/auth/register", {"username": "second", "email": "é@example.com", "password": PASSWORD})
    assert_error(status, body, 409)
    assert "email" in body["message"] and "username" not in body["message"], body
