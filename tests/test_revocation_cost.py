"""The revocation check costs the same whatever the user holds (issue #18 part 2), on MariaDB and
SQLite: a REST request and a socket handshake check their token with one statement on the
session tables, by primary key, however many sessions the user has and however many tokens were
revoked; no statement of theirs scans a user's sessions."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import event

from handlers.services.tokens import issue_token
from server.keys import DB, SETTINGS
from storage import sessions as session_store
from storage import tokens as token_store
from storage.clock import utc_now

pytestmark = pytest.mark.usefixtures("backend")

SESSION_TABLES = ("auth_sessions", "revoked_tokens", "refresh_tokens")
# MariaDB's join types that read one row per key: a primary-key or unique lookup.
ONE_ROW_ACCESS = {"system", "const", "eq_ref"}
# What MariaDB's EXPLAIN says of a primary-key lookup that found no row (a token not revoked).
NO_ROW_BY_KEY = ("no matching row in const table", "Impossible WHERE noticed after reading const tables")
# SQLite's plan step for a lookup by an integer primary key, or by the index of another one
# (an index on user_id would be a search too, but of every session of the user).
SQLITE_KEY_LOOKUP = r"SEARCH (\w+) USING (INTEGER PRIMARY KEY \(rowid=\?\)|INDEX sqlite_autoindex_\1_1 \(\w+=\?\))"


@pytest.fixture
async def crowded(users, engine):
    """Alice, with 300 more sessions (half of them revoked) and 300 revoked tokens beside hers."""
    alice = await users.make("alice")
    for name in ("bob", "carol", "dave"):
        await users.make(name)
    now = utc_now()
    async with engine.begin() as conn:
        for n in range(300):
            session_id = await session_store.create(
                conn, user_id=alice.id, device=f"device {n}", refresh_hash=f"{n:064x}", now=now, expires_at=now + timedelta(days=1)
            )
            if n % 2:
                await session_store.revoke(conn, session_id, alice.id, now)
            await token_store.revoke(conn, f"{n:032x}", now + timedelta(days=1))
    return alice


def recording(engine) -> tuple[list, Callable[[], None]]:
    """Statements (text and parameters) on the server's engine that name a session table."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if any(table in statement for table in SESSION_TABLES):
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(engine.sync_engine, "before_cursor_execute", record)


async def assert_looked_up_by_primary_key(engine, backend: str, statement: str, parameters) -> None:
    """Every table the statement reads is read by its primary key (EXPLAIN on MariaDB, EXPLAIN
    QUERY PLAN on SQLite): no scan, and no search by user_id."""
    async with engine.connect() as conn:
        if backend == "sqlite":
            plan = [row[-1] for row in await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            searches = [step for step in plan if "SUBQUERY" not in step]
            assert searches and all(re.fullmatch(SQLITE_KEY_LOOKUP, step) for step in searches), plan
        else:
            plan = [row._mapping for row in await conn.exec_driver_sql("EXPLAIN " + statement, parameters)]
            for step in plan:
                by_key = step["type"] in ONE_ROW_ACCESS and step["key"] == "PRIMARY"
                assert by_key or step["Extra"] in NO_ROW_BY_KEY, plan


async def checks_of(engine, action) -> list[tuple[str, object]]:
    seen, stop = recording(engine)
    try:
        await action()
    finally:
        stop()
    return seen


async def test_a_request_and_a_handshake_check_the_session_by_its_key(client, engine, backend, crowded):
    alice = crowded

    async def request():
        assert (await alice.call("GET", "/api/users/me"))[0] == 200

    async def handshake():
        socket = await client.ws_connect("/ws", headers=alice.auth)
        await socket.close()

    for action in (request, handshake):
        checks = await checks_of(client.server.app[DB], action)
        assert len(checks) == 1, checks  # the check itself; the session was seen moments ago: no write
        await assert_looked_up_by_primary_key(engine, backend, *checks[0])


async def test_a_token_without_a_session_is_checked_by_its_keys_too(client, engine, backend, crowded):
    """A token issued before sessions existed: its user and its own id, both primary keys."""
    alice = crowded
    token, _ = issue_token(alice.id, client.server.app[SETTINGS].jwt_secret, 60)
    headers = {"Authorization": f"Bearer {token}"}

    async def request():
        assert (await client.get("/api/users/me", headers=headers)).status == 200

    checks = await checks_of(client.server.app[DB], request)
    assert len(checks) == 1, checks
    await assert_looked_up_by_primary_key(engine, backend, *checks[0])
