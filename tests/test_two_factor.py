"""Two-factor authentication (PROTOCOL §3 two-factor), over real HTTP on MariaDB and SQLite:
enrol with the password, confirm with a code (recovery codes shown once), a login that asks for
the second factor, codes that work once, recovery codes, disabling with password and code, and
the login throttle on codes."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pyotp
import pytest
from sqlalchemy import select

import handlers.services.tokens as tokens_module
from handlers.services.tokens import CHALLENGE_TTL_SECONDS
from server.app import create_app
from storage.tables import recovery_codes as recovery_table
from tests.chat import PASSWORD, UserFactory

pytestmark = pytest.mark.usefixtures("backend")


def code_at(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


async def login(client, password: str = PASSWORD) -> tuple[int, dict]:
    response = await client.post("/api/auth/login", json={"username": "alice", "password": password})
    return response.status, await response.json()


async def second_step(client, challenge: str, code: str) -> tuple[int, dict]:
    response = await client.post("/api/auth/login/2fa", json={"challenge": challenge, "code": code, "device": "phone"})
    return response.status, await response.json()


async def enable(alice) -> tuple[str, list[str]]:
    enrolment = await alice.ok("POST", "/api/auth/2fa/enrol", json={"password": PASSWORD})
    confirmed = await alice.ok("POST", "/api/auth/2fa/confirm", json={"code": code_at(enrolment["secret"])})
    return enrolment["secret"], confirmed["recovery_codes"]


@pytest.fixture
async def alice(users):
    return await users.make("alice")


async def test_enrol_and_confirm(alice, engine):
    assert await alice.ok("GET", "/api/auth/2fa") == {"enabled": False, "recovery_codes_left": 0}
    status, body = await alice.call("POST", "/api/auth/2fa/enrol", json={"password": "wrong password"})
    assert status == 403, body
    enrolment = await alice.ok("POST", "/api/auth/2fa/enrol", json={"password": PASSWORD})
    assert set(enrolment) == {"secret", "otpauth_uri", "qr_svg"}
    assert enrolment["otpauth_uri"].startswith("otpauth://totp/Hubbub:alice?secret=" + enrolment["secret"])
    assert enrolment["qr_svg"].startswith("data:image/svg+xml")
    # Pending: not in force yet.
    assert await alice.ok("GET", "/api/auth/2fa") == {"enabled": False, "recovery_codes_left": 0}
    status, body = await alice.call("POST", "/api/auth/2fa/confirm", json={"code": "000000" if code_at(enrolment["secret"]) != "000000" else "111111"})
    assert status == 403 and body["message"] == "wrong two-factor code", body
    confirmed = await alice.ok("POST", "/api/auth/2fa/confirm", json={"code": code_at(enrolment["secret"])})
    codes = confirmed["recovery_codes"]
    assert len(codes) == 10 == len(set(codes))
    status = await alice.ok("GET", "/api/auth/2fa")
    assert status == {"enabled": True, "recovery_codes_left": 10}
    # Neither the secret nor a recovery code is shown again, nor stored as given.
    assert enrolment["secret"] not in str(status)
    async with engine.connect() as conn:
        stored = set(await conn.scalars(select(recovery_table.c.code_hash)))
    assert len(stored) == 10 and not stored & set(codes)
    status, body = await alice.call("POST", "/api/auth/2fa/enrol", json={"password": PASSWORD})
    assert status == 409, body
    status, body = await alice.call("POST", "/api/auth/2fa/confirm", json={"code": code_at(enrolment["secret"], 1)})
    assert status == 409, body


async def test_login_asks_for_the_second_factor(client, alice):
    secret, _ = await enable(alice)
    status, body = await login(client)
    assert status == 401 and body["message"] == "two-factor code required", body
    data = body["data"]
    assert data["two_factor_required"] is True and data["expires_in"] == 300 and "token" not in data
    # The challenge is no access token.
    assert (await client.get("/api/users/me", headers={"Authorization": f"Bearer {data['challenge']}"})).status == 401
    # A wrong password never gets as far.
    status, body = await login(client, "wrong password")
    assert status == 401 and body["data"] is None

    status, body = await second_step(client, data["challenge"], "123456" if code_at(secret, 1) != "123456" else "654321")
    assert status == 401 and body["message"] == "wrong two-factor code", body
    code = code_at(secret, 1)  # the current step's code was spent by the confirmation
    status, body = await second_step(client, data["challenge"], code)
    assert status == 200, body
    assert body["data"]["user"]["username"] == "alice" and body["data"]["refresh_token"]
    assert (await client.get("/api/users/me", headers={"Authorization": f"Bearer {body['data']['token']}"})).status == 200
    # A code works once.
    status, body = await second_step(client, data["challenge"], code)
    assert status == 401, body


@pytest.mark.parametrize("challenge", ["garbage", ""])
async def test_a_bad_challenge_is_refused(client, alice, challenge):
    secret, _ = await enable(alice)
    status, body = await second_step(client, challenge, code_at(secret, 1))
    assert status in (401, 422), body
    status, body = await second_step(client, alice.token, code_at(secret, 1))
    assert status == 401, body


async def test_a_challenge_ends_with_a_password_change_or_its_lifetime(client, alice, monkeypatch):
    """A challenge is proof of the password at the time: once every token of the user was
    revoked since (a password change), or after CHALLENGE_TTL_SECONDS, it is refused, however
    right the code."""
    secret, codes = await enable(alice)
    _, body = await login(client)
    before_change = body["data"]["challenge"]
    await alice.ok("POST", "/api/auth/password", json={"current_password": PASSWORD, "new_password": "a new password"})
    status, body = await second_step(client, before_change, codes[0])
    assert (status, body["message"]) == (401, "invalid or expired two-factor challenge"), body

    real_time = time.time
    monkeypatch.setattr(tokens_module, "time", SimpleNamespace(time=lambda: real_time() - CHALLENGE_TTL_SECONDS - 1))
    _, body = await login(client, "a new password")
    monkeypatch.setattr(tokens_module, "time", time)
    status, body = await second_step(client, body["data"]["challenge"], codes[1])
    assert (status, body["message"]) == (401, "invalid or expired two-factor challenge"), body
    _, body = await login(client, "a new password")
    assert (await second_step(client, body["data"]["challenge"], codes[2]))[0] == 200


async def test_recovery_codes_work_once(client, alice):
    _, codes = await enable(alice)
    _, body = await login(client)
    challenge = body["data"]["challenge"]
    assert (await second_step(client, challenge, codes[0].upper()))[0] == 200
    assert (await second_step(client, challenge, codes[0]))[0] == 401
    assert (await alice.ok("GET", "/api/auth/2fa"))["recovery_codes_left"] == 9


async def test_disable_needs_password_and_code(client, alice):
    secret, codes = await enable(alice)
    status, body = await alice.call("POST", "/api/auth/2fa/disable", json={"password": "wrong password", "code": code_at(secret, 1)})
    assert status == 403, body
    status, body = await alice.call("POST", "/api/auth/2fa/disable", json={"password": PASSWORD, "code": "999999" if code_at(secret, 1) != "999999" else "888888"})
    assert status == 403, body
    status, body = await alice.call("POST", "/api/auth/2fa/disable", json={"password": PASSWORD})
    assert status == 422, body
    assert (await alice.ok("GET", "/api/auth/2fa"))["enabled"] is True
    assert await alice.ok("POST", "/api/auth/2fa/disable", json={"password": PASSWORD, "code": codes[3]}) is None
    assert await alice.ok("GET", "/api/auth/2fa") == {"enabled": False, "recovery_codes_left": 0}
    status, body = await login(client)
    assert status == 200 and body["data"]["token"], body
    status, body = await alice.call("POST", "/api/auth/2fa/disable", json={"password": PASSWORD, "code": codes[4]})
    assert status == 409, body


async def test_wrong_codes_are_throttled_as_logins(aiohttp_client, settings, engine):
    client = await aiohttp_client(create_app(settings.replace(login_attempts_per_minute=3)))
    alice = await UserFactory(client).make("alice")
    secret, _ = await enable(alice)
    _, body = await login(client)
    challenge = body["data"]["challenge"]
    wrong = "000000" if code_at(secret, 1) != "000000" else "111111"
    statuses = [(await second_step(client, challenge, wrong))[0] for _ in range(3)]
    assert statuses == [401, 401, 401]
    status, body = await second_step(client, challenge, code_at(secret, 1))
    assert status == 429, body


async def test_enrolment_confirmation_and_disabling_count_as_logins(aiohttp_client, settings, engine):
    """A wrong password at enrolment, a wrong code at confirmation and at disabling are failed
    logins on the account's count: after the limit each of them, and logging in, is 429."""
    client = await aiohttp_client(create_app(settings.replace(login_attempts_per_minute=3)))
    alice = await UserFactory(client).make("alice")
    assert (await alice.call("POST", "/api/auth/2fa/enrol", json={"password": "wrong password"}))[0] == 403
    enrolment = await alice.ok("POST", "/api/auth/2fa/enrol", json={"password": PASSWORD})
    wrong = "000000" if code_at(enrolment["secret"]) != "000000" else "111111"
    assert (await alice.call("POST", "/api/auth/2fa/confirm", json={"code": wrong}))[0] == 403
    codes = (await alice.ok("POST", "/api/auth/2fa/confirm", json={"code": code_at(enrolment["secret"])}))["recovery_codes"]
    assert (await alice.call("POST", "/api/auth/2fa/disable", json={"password": PASSWORD, "code": "aaaaa-aaaaa"}))[0] == 403
    for method, path, payload in (
        ("POST", "/api/auth/2fa/disable", {"password": PASSWORD, "code": codes[0]}),
        ("POST", "/api/auth/2fa/enrol", {"password": PASSWORD}),
    ):
        status, body = await alice.call(method, path, json=payload)
        assert status == 429, (path, body)
    assert (await login(client))[0] == 429
    assert (await alice.ok("GET", "/api/auth/2fa"))["enabled"] is True


async def test_a_conflict_is_no_failed_attempt(aiohttp_client, settings, engine):
    """Confirming with nothing pending, or disabling what is off (409), tried no code: it does
    not count toward the login limit."""
    client = await aiohttp_client(create_app(settings.replace(login_attempts_per_minute=2)))
    alice = await UserFactory(client).make("alice")
    for _ in range(3):
        assert (await alice.call("POST", "/api/auth/2fa/confirm", json={"code": "123456"}))[0] == 409
        assert (await alice.call("POST", "/api/auth/2fa/disable", json={"password": PASSWORD, "code": "123456"}))[0] == 409
    assert (await login(client))[0] == 200


async def test_no_secret_reaches_the_log(client, alice, caplog):
    # aiosqlite logs every statement's parameters at DEBUG: server.logs.setup_logging keeps it at
    # INFO at least, as here.
    caplog.set_level("INFO", logger="aiosqlite")
    with caplog.at_level("DEBUG"):
        secret, codes = await enable(alice)
        _, body = await login(client)
        await second_step(client, body["data"]["challenge"], codes[0])
    for value in (secret, *codes, PASSWORD):
        assert value not in caplog.text
