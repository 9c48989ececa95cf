"""Session lookups of concurrent requests share one query (handlers.services.session_lookups),
and each caller gets its own session's answer, on MariaDB and SQLite; socket handshakes use them."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import event

from handlers.services.session_lookups import GATHER_SECONDS, SessionLookups
from server.keys import DB
from storage import sessions as session_store
from storage import users as user_store
from storage.clock import utc_now
from tests.chat import Socket
from tests.test_revocation_cost import recording

pytestmark = pytest.mark.usefixtures("backend")


async def test_concurrent_lookups_share_a_query_and_get_their_own_answers(engine):
    now = utc_now()
    async with engine.begin() as conn:
        alice = (await user_store.insert_user(conn, username="alice", email="a@example.com", password_hash="x", nickname=None)).id
        bob = (await user_store.insert_user(conn, username="bob", email="b@example.com", password_hash="x", nickname=None)).id
        sessions = {}
        for index, user_id in enumerate([alice] * 10 + [bob] * 10):
            sessions[index] = (user_id, await session_store.create(
                conn, user_id=user_id, device=f"d{index}", refresh_hash=f"h{index}", now=now, expires_at=now + timedelta(days=1)
            ))
        revoked = sessions[3][1]
        assert await session_store.revoke(conn, revoked, alice, now)
    queries = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: queries.append(args[2]))

    lookups = SessionLookups(engine)
    unknown = max(session_id for _, session_id in sessions.values()) + 1000
    wanted = [session_id for _, session_id in sessions.values()] + [unknown, sessions[0][1]]
    found = await asyncio.gather(*(lookups.user_of(session_id) for session_id in wanted))
    await lookups.close()

    assert len(queries) <= 2, queries  # the first lookup's query, then one for all the others
    for (user_id, session_id), row in zip(sessions.values(), found):
        assert (row.id, row.session_id, bool(row.token_valid)) == (user_id, session_id, session_id != revoked)
    assert found[-2] is None
    assert found[-1].session_id == sessions[0][1]


async def test_lookups_arriving_one_by_one_are_gathered_between_queries(engine):
    """A reconnect storm's lookups come a few at a time: the queries are spaced GATHER_SECONDS
    apart at least, each answering what came meanwhile, instead of one query per arrival."""
    now = utc_now()
    async with engine.begin() as conn:
        alice = (await user_store.insert_user(conn, username="alice", email="a@example.com", password_hash="x", nickname=None)).id
        session_ids = [
            await session_store.create(conn, user_id=alice, device=f"d{i}", refresh_hash=f"h{i}", now=now, expires_at=now + timedelta(days=1))
            for i in range(30)
        ]
    started: list[float] = []

    def note_lookup(_conn, _cursor, statement, *_args) -> None:
        if "auth_sessions" in statement:  # not SQLite's BEGIN of each connection
            started.append(time.monotonic())

    event.listen(engine.sync_engine, "before_cursor_execute", note_lookup)
    lookups = SessionLookups(engine)
    asked = []
    for session_id in session_ids:
        asked.append(asyncio.create_task(lookups.user_of(session_id)))
        await asyncio.sleep(0.001)
    found = await asyncio.gather(*asked)
    await lookups.close()

    assert [row.session_id for row in found] == session_ids
    # A query reaches the database a moment after it was decided on, a moment that varies (a
    # checkout, SQLite's connection per read): single gaps vary, their mean does not.
    assert GATHER_SECONDS >= 0.005
    mean_gap = (started[-1] - started[0]) / (len(started) - 1)
    assert len(started) < len(session_ids) and mean_gap >= 0.004, (len(started), mean_gap)


async def test_concurrent_handshakes_share_their_session_checks(client, users):
    """The socket handshake checks its token through these lookups: forty sockets opened at
    once are not forty queries (the queries are spaced GATHER_SECONDS apart, and forty
    handshakes take the server longer than that)."""
    alice = await users.make("alice")
    checks, stop = recording(client.server.app[DB])
    try:
        sockets = await asyncio.gather(*(client.ws_connect("/ws", headers=alice.auth) for _ in range(40)))
    finally:
        stop()
    for ws in sockets:
        assert (await Socket(ws).request("ping"))["code"] == 200
        await ws.close()
    assert 1 <= len(checks) < 20, checks
