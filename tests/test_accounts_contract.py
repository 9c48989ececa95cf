"""Every route of issue #18 (password, sessions, refresh, blocking, deletion, two-factor) is in the
OpenAPI document with its request body, its answer's object and its errors, and in PROTOCOL.md's
REST table; the admin commands for sessions and two-factor are in PROTOCOL.md §6."""

from __future__ import annotations

from pathlib import Path

import pytest
from openapi_spec_validator import validate

from server.openapi import ERROR_DATA, RESPONSE_OBJECTS

from tests.test_openapi_health import resolve

PROTOCOL = Path(__file__).resolve().parent.parent / "PROTOCOL.md"

# (method, path as in the OpenAPI document, the answer's object or None for data: null, errors
# it documents beyond the ones every operation has)
ROUTES = [
    ("post", "/api/auth/login", "LoginVO", {"401", "403", "422", "429"}),
    ("post", "/api/auth/refresh", "TokenVO", {"401", "403", "422"}),
    ("post", "/api/auth/password", None, {"401", "403", "422", "429"}),
    ("post", "/api/auth/logout", None, {"401"}),
    ("post", "/api/auth/logout-all", None, {"401"}),
    ("get", "/api/auth/sessions", "[SessionVO]", {"401"}),
    ("delete", "/api/auth/sessions/{session_id}", None, {"401", "404"}),
    ("get", "/api/auth/2fa", "TwoFactorStatusVO", {"401"}),
    ("post", "/api/auth/2fa/enrol", "TwoFactorEnrolmentVO", {"401", "403", "409", "422", "429"}),
    ("post", "/api/auth/2fa/confirm", "RecoveryCodesVO", {"401", "403", "409", "422", "429"}),
    ("post", "/api/auth/2fa/disable", None, {"401", "403", "409", "422", "429"}),
    ("post", "/api/auth/login/2fa", "LoginVO", {"401", "422", "429"}),
    ("get", "/api/users/blocked", "[BlockedUserVO]", {"401"}),
    ("post", "/api/users/{id}/block", None, {"401", "404", "422"}),
    ("delete", "/api/users/{id}/block", None, {"401", "404"}),
    ("delete", "/api/users/me", None, {"401", "403", "422", "429"}),
]


@pytest.fixture
async def spec(client) -> dict:
    response = await client.get("/api/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    return document


def answer_object(spec: dict, operation: dict) -> str | None:
    ok = next(response for code, response in operation["responses"].items() if code.startswith("2"))
    data = ok["content"]["application/json"]["schema"]["properties"]["data"]
    if data.get("type") == "null":
        return None
    if data.get("type") == "array":
        return "[" + data["items"]["$ref"].removeprefix("#/components/schemas/") + "]"
    return data["$ref"].removeprefix("#/components/schemas/")


async def test_openapi_documents_every_account_route(spec):
    for method, path, answer, errors in ROUTES:
        operation = spec["paths"][path][method]
        assert answer_object(spec, operation) == answer, (method, path)
        assert errors <= set(operation["responses"]), (method, path, sorted(operation["responses"]))
        public = path in ("/api/auth/login", "/api/auth/refresh", "/api/auth/login/2fa")
        assert ("security" in operation) is not public, (method, path)
        if method in ("post", "delete") and path not in ("/api/auth/logout", "/api/auth/logout-all", "/api/auth/sessions/{session_id}") and "block" not in path:
            assert "requestBody" in operation, (method, path)


async def test_openapi_describes_the_two_factor_challenge_of_a_login(spec):
    """A login with two-factor on is a 401 whose data is the challenge (PROTOCOL §3)."""
    data = spec["paths"]["/api/auth/login"]["post"]["responses"]["401"]["content"]["application/json"]["schema"]["properties"]["data"]
    challenge = resolve(spec, [choice for choice in data["oneOf"] if "$ref" in choice][0])
    assert set(challenge["required"]) == {"two_factor_required", "challenge", "expires_in"}
    # Other operations' 401s carry null.
    other = spec["paths"]["/api/auth/sessions"]["get"]["responses"]["401"]["content"]["application/json"]["schema"]["properties"]["data"]
    assert "oneOf" not in other


async def test_no_secret_is_in_an_object_shown_later(spec):
    """The secrets are in the answers that show them first only: no other object has a field
    for them."""
    schemas = spec["components"]["schemas"]
    showing = {"TokenVO": {"token", "refresh_token"}, "LoginVO": {"token", "refresh_token"}, "TwoFactorEnrolmentVO": {"secret", "otpauth_uri", "qr_svg"}, "RecoveryCodesVO": {"recovery_codes"}, "TwoFactorChallenge": {"challenge"}}
    secret_words = ("password", "secret", "token", "recovery", "totp", "otpauth", "hash")
    for name in [*RESPONSE_OBJECTS, *ERROR_DATA]:  # what answers carry; request bodies aside
        for prop in schemas[name].get("properties", {}):
            if any(word in prop for word in secret_words) and prop not in ("token_type", "recovery_codes_left"):
                assert prop in showing.get(name, set()), (name, prop)


def test_protocol_lists_every_account_route_and_admin_command():
    text = PROTOCOL.read_text(encoding="utf-8")
    for method, path, _, _ in ROUTES:
        documented = path.replace("{session_id}", "{id}")
        assert f"| {method.upper()} {documented} |" in text or f"{method.upper()} {documented} ·" in text or f"· {method.upper()} {documented} |" in text, (method, path)
    for command in ("hubbub session list --user", "hubbub session revoke --user", "hubbub user\n  reset-2fa", "deleted_user_content", "deleted_username_hold_days", "refresh_ttl_seconds", "jwt_ttl_seconds"):
        assert command in text, command
