"""What the token sweeper asks (handlers.services.auth: sessions_ended, revoked_among) is asked
in statements of SWEEP_CHUNK ids, and the answers of all of them are put together."""

from datetime import timedelta

import pytest

from handlers.services import auth as auth_service
from handlers.services.auth import AuthService
from storage import sessions as session_store
from storage import tokens as token_store
from storage import users as user_store
from storage.clock import utc_now

pytestmark = pytest.mark.usefixtures("backend")


async def test_the_sweepers_questions_are_answered_across_chunks(engine, settings, monkeypatch):
    monkeypatch.setattr(auth_service, "SWEEP_CHUNK", 2)
    now = utc_now()
    async with engine.begin() as conn:
        user_ids = [
            (await user_store.insert_user(conn, username=f"u{i}", email=f"u{i}@example.com", password_hash="x", nickname=None)).id
            for i in range(5)
        ]
        sessions = [
            await session_store.create(conn, user_id=user_ids[0], device=f"d{i}", refresh_hash=f"h{i}", now=now, expires_at=now + timedelta(days=1))
            for i in range(5)
        ]
        await session_store.revoke(conn, sessions[0], user_ids[0], now)
        await session_store.revoke(conn, sessions[4], user_ids[0], now)
        await token_store.revoke(conn, "jti-revoked", now + timedelta(days=1))
        await token_store.revoke_all(conn, user_ids[1])
        await token_store.revoke_all(conn, user_ids[4])
    auth = AuthService(engine, settings)

    ended = await auth.sessions_ended(user_ids)
    assert set(ended) == {user_ids[1], user_ids[4]} and all(generation == 1 for generation, _ in ended.values())
    keys = [f"s{session_id}" for session_id in sessions] + ["jti-a", "jti-b", "jti-revoked"]
    assert await auth.revoked_among(keys) == {f"s{sessions[0]}", f"s{sessions[4]}", "jti-revoked"}
    await auth.close()
