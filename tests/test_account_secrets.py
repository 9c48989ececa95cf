"""No secret of an account in a log line or in a later answer (issue #18 quality bar), on MariaDB
and SQLite: a password (right, wrong or refused), a refresh token, an access token, a two-factor
challenge, a TOTP secret or a recovery code goes through every account route (login, refresh
and its reuse, password change, sessions, two-factor enrolment, login and codes, account
deletion) of a real `hubbub serve` logging at DEBUG; none is in its output, a password is in no
answer, and each of the others is in the one answer that shows it first and in no other."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import aiohttp
import pyotp
import pytest

from tests.processes import serve_without_settings

pytestmark = pytest.mark.usefixtures("backend")

FIRST = "first-Pw-7c1e"
SECOND = "second-Pw-9d2a"
WRONG = "wrong-Pw-3b8f"
TOO_LONG = "long-Pw-" + "q" * 130


class Exchange:
    """Every answer's text, in order."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session
        self.answers: list[str] = []

    async def call(self, method: str, path: str, token: str | None = None, **kwargs) -> tuple[int, dict]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, path, headers=headers, **kwargs) as response:
            text = await response.text()
        self.answers.append(text)
        return response.status, json.loads(text)

    async def ok(self, method: str, path: str, token: str | None = None, **kwargs):
        status, body = await self.call(method, path, token, **kwargs)
        assert status < 300, (method, path, status, body)
        return body["data"]

    def showings(self, secret: str) -> int:
        return sum(secret in answer for answer in self.answers)


@pytest.fixture
def served(database_url: str, engine, tmp_path: Path):
    """`hubbub serve` on the test's database (its schema made by `engine`), logging at DEBUG."""
    process, port = serve_without_settings(tmp_path, HUBBUB_DATABASE_URL=database_url, HUBBUB_LOG_LEVEL="DEBUG", HUBBUB_LOG_FORMAT="json")
    output: list[str] = []

    def stop() -> str:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0
        output.append(process.stdout.read().decode())
        return output[0]

    try:
        yield f"http://127.0.0.1:{port}", stop
    finally:
        if not output:
            stop()


async def test_no_secret_is_logged_or_shown_twice(served):
    url, stop = served
    shown: list[str] = []  # each shown in exactly one answer
    never: list[str] = [FIRST, SECOND, WRONG, TOO_LONG]  # in no answer
    async with aiohttp.ClientSession(url) as session:
        x = Exchange(session)
        await x.ok("POST", "/api/auth/register", json={"username": "bob", "email": "bob@example.com", "password": FIRST})
        bob = await x.ok("POST", "/api/auth/login", json={"username": "bob", "password": FIRST})
        shown += [bob["token"], bob["refresh_token"]]
        alice = await x.ok("POST", "/api/auth/register", json={"username": "alice", "email": "alice@example.com", "password": FIRST})
        phone = await x.ok("POST", "/api/auth/login", json={"username": "alice", "password": FIRST, "device": "phone"})
        assert (await x.call("POST", "/api/auth/login", json={"username": "alice", "password": WRONG}))[0] == 401
        renewed = await x.ok("POST", "/api/auth/refresh", json={"refresh_token": phone["refresh_token"]})
        assert (await x.call("POST", "/api/auth/refresh", json={"refresh_token": phone["refresh_token"]}))[0] == 401  # reused
        laptop = await x.ok("POST", "/api/auth/login", json={"username": "alice", "password": FIRST, "device": "laptop"})
        tablet = await x.ok("POST", "/api/auth/login", json={"username": "alice", "password": FIRST, "device": "tablet"})
        shown += [session[key] for session in (phone, renewed, laptop, tablet) for key in ("token", "refresh_token")]

        token = laptop["token"]
        change = "/api/auth/password"
        assert (await x.call("POST", change, token, json={"current_password": WRONG, "new_password": SECOND}))[0] == 403
        assert (await x.call("POST", change, token, json={"current_password": FIRST, "new_password": TOO_LONG}))[0] == 422
        assert await x.ok("POST", change, token, json={"current_password": FIRST, "new_password": SECOND}) is None
        await x.ok("GET", "/api/auth/sessions", token)

        assert (await x.call("POST", "/api/auth/2fa/enrol", token, json={"password": WRONG}))[0] == 403
        enrolment = await x.ok("POST", "/api/auth/2fa/enrol", token, json={"password": SECOND})
        codes = (await x.ok("POST", "/api/auth/2fa/confirm", token, json={"code": pyotp.TOTP(enrolment["secret"]).now()}))["recovery_codes"]
        shown += [enrolment["secret"], enrolment["otpauth_uri"], *codes]
        await x.ok("GET", "/api/auth/2fa", token)
        status, body = await x.call("POST", "/api/auth/login", json={"username": "alice", "password": SECOND})
        assert status == 401
        challenge = body["data"]["challenge"]
        shown.append(challenge)
        later = pyotp.TOTP(enrolment["secret"]).at(time.time() + 30)
        assert (await x.call("POST", "/api/auth/login/2fa", json={"challenge": challenge, "code": "000000" if later != "000000" else "111111"}))[0] == 401
        second = await x.ok("POST", "/api/auth/login/2fa", json={"challenge": challenge, "code": codes[0], "device": "desk"})
        shown += [second["token"], second["refresh_token"]]
        assert (await x.call("POST", "/api/auth/2fa/disable", second["token"], json={"password": WRONG, "code": codes[1]}))[0] == 403

        for path in ("/api/users/me", "/api/auth/sessions", "/api/auth/2fa", "/api/users/blocked"):
            await x.ok("GET", path, second["token"])
        await x.ok("GET", f"/api/users/{alice['id']}", bob["token"])
        await x.ok("GET", "/api/users", bob["token"], params={"q": "al"})
        assert (await x.call("DELETE", "/api/users/me", second["token"], json={"password": WRONG, "code": codes[2]}))[0] == 403
        assert await x.ok("DELETE", "/api/users/me", second["token"], json={"password": SECOND, "code": codes[3]}) is None
        await x.ok("GET", f"/api/users/{alice['id']}", bob["token"])

    for secret in never:
        assert x.showings(secret) == 0, secret
    for secret in shown:
        assert x.showings(secret) == 1, secret
    logged = stop()
    assert "POST /api/auth/login/2fa" in logged, "the server did not log the requests"
    for secret in never + shown:
        assert secret not in logged, secret
