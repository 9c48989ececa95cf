"""Timing-safe checks of account secrets (issue #18 quality bar): an unknown account costs the
same bcrypt check as a wrong password (login, on MariaDB and SQLite), and a TOTP code is compared
in constant time with every candidate step, whichever matches. (Refresh tokens and recovery codes
are looked up by their SHA-256 hash, never compared as given: test_token_refresh and
test_two_factor show that only hashes are stored.)"""

from __future__ import annotations

import hmac
import time
from types import SimpleNamespace

import pyotp
import pytest

import handlers.services.auth as auth_service
import handlers.services.two_factor as two_factor_service
from tests.chat import PASSWORD


def counting(monkeypatch, module, name: str) -> list:
    """Spies (does not replace) `module.name`: the arguments of every call."""
    calls: list = []
    real = getattr(module, name)

    def spy(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(module, name, spy)
    return calls


@pytest.mark.usefixtures("backend")
async def test_an_unknown_account_costs_a_bcrypt_check_too(client, users, monkeypatch):
    await users.make("alice")
    checks = counting(monkeypatch, auth_service, "verify_password")
    for identity in ({"username": "alice"}, {"username": "nobody"}, {"email": "nobody@example.com"}):
        response = await client.post("/api/auth/login", json={**identity, "password": "wrong password"})
        assert response.status == 401
    assert len(checks) == 3
    # The unknown ones were checked against a real bcrypt hash (the decoy), not skipped.
    assert all(password_hash.startswith("$2b$") for _, password_hash in checks)
    response = await client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status == 200


@pytest.mark.parametrize("offset", [-1, 0, 1, 5])
def test_every_candidate_code_is_compared_in_constant_time(monkeypatch, offset):
    secret = pyotp.random_base32()
    now = time.time()
    compared: list = []

    def compare_digest(a, b):
        compared.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(two_factor_service, "hmac", SimpleNamespace(compare_digest=compare_digest))
    code = pyotp.TOTP(secret).at(now + 30 * offset)
    found = two_factor_service.matching_step(secret, code, now)
    assert (found is not None) == (abs(offset) <= 1)
    # Three steps compared, whichever matched: the answer's time says nothing of which.
    assert len(compared) == 3 and all(given == code for _, given in compared)

