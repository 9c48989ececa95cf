"""What the load generator talks to: one running server (Hubbub or a peer) with its socket
URL, its wire protocol, and how to give it users and groups.

`launch(name)` is a context manager: it creates what the target needs (a fresh MariaDB
database for Hubbub and the batched peer), starts the server, and on the way out stops it and
drops the database, whatever happened in between."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench import servers
from bench.load import JSON, SOCKETIO
from bench.servers import ServerProcess

HUBBUB = "hubbub"
AIOHTTP_RELAY = "aiohttp-relay"
AIOHTTP_BATCHED = "aiohttp-batched"
SOCKETIO_RELAY = "socketio-relay"
ALL = (HUBBUB, AIOHTTP_RELAY, AIOHTTP_BATCHED, SOCKETIO_RELAY)
DESCRIPTIONS = {
    HUBBUB: "Hubbub (`hubbub serve`, MariaDB)",
    AIOHTTP_RELAY: "raw aiohttp relay, no database (framework floor)",
    AIOHTTP_BATCHED: "raw aiohttp relay + batched MariaDB writer (persistence floor)",
    SOCKETIO_RELAY: "python-socketio on aiohttp, relay without persisting",
}
PASSWORD = "bench-password"


@dataclass
class User:
    id: int
    token: str
    username: str = ""


@dataclass
class Target:
    name: str
    server: ServerProcess
    protocol: str
    database_url: str | None = None
    bcrypt_rounds: int = 4

    @property
    def pid(self) -> int:
        return self.server.pid

    @property
    def ws_url(self) -> str:
        if self.protocol == SOCKETIO:
            return f"ws://127.0.0.1:{self.server.port}/socket.io/?EIO=4&transport=websocket"
        return f"ws://127.0.0.1:{self.server.port}/ws"

    @property
    def http_url(self) -> str:
        return self.server.base_url

    def make_users(self, count: int) -> list[User]:
        if self.name != HUBBUB:
            # Peers take the user id itself as the token.
            return [User(i, str(i), f"user{i}") for i in range(1, count + 1)]
        return asyncio.run(_hubbub_users(self.database_url, count, self.bcrypt_rounds))

    def make_group(self, owner: User, members: list[User]) -> int:
        return asyncio.run(self._make_group(owner, members))

    async def _make_group(self, owner: User, members: list[User]) -> int:
        body = {"type": "group", "name": "bench", "member_ids": [m.id for m in members if m.id != owner.id]}
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {owner.token}"}) as http:
            async with http.post(f"{self.http_url}/api/conversations", json=body) as answer:
                envelope = await answer.json()
                if answer.status != 201:
                    raise RuntimeError(f"creating the group failed: {answer.status} {envelope}")
                return envelope["data"]["id"]


async def _hubbub_users(database_url: str, count: int, rounds: int) -> list[User]:
    """Users straight into the database, one bcrypt hash shared by all, and tokens minted with
    the secret the bench server runs with: registering 19,000 users through the API would take
    minutes of bcrypt and is not what any scenario measures (the login scenario logs in through
    the API). The tokens are real: each names a session of its own, as a login's does, and the
    server verifies it and looks its session and user up."""
    from datetime import timedelta

    from handlers.services.passwords import hash_password_blocking
    from handlers.services.tokens import issue_token
    from storage.clock import utc_now
    from storage.engine import create_engine
    from storage.tables import auth_sessions, users

    password_hash = hash_password_blocking(PASSWORD, rounds)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            start = int((await conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM users")).scalar_one())
            rows = [
                {"username": f"b{start + i:07d}", "email": f"b{start + i:07d}@bench.invalid", "password_hash": password_hash, "nickname": None, "status": 1}
                for i in range(1, count + 1)
            ]
            for chunk in range(0, len(rows), 2000):
                await conn.execute(users.insert(), rows[chunk : chunk + 2000])
            found = (await conn.execute(users.select().with_only_columns(users.c.id, users.c.username).where(users.c.id > start).order_by(users.c.id))).all()
            now = utc_now()
            sessions = [
                {"user_id": row.id, "device": "bench", "created_at": now, "last_seen_at": now, "expires_at": now + timedelta(days=1)} for row in found
            ]
            for chunk in range(0, len(sessions), 2000):
                await conn.execute(auth_sessions.insert(), sessions[chunk : chunk + 2000])
            session_of = dict((await conn.execute(auth_sessions.select().with_only_columns(auth_sessions.c.user_id, auth_sessions.c.id).where(auth_sessions.c.user_id > start))).all())
    finally:
        await engine.dispose()
    ttl = 24 * 3600
    return [User(row.id, issue_token(row.id, servers.BENCH_JWT_SECRET, ttl, session_id=session_of[row.id])[0], row.username) for row in found]


@contextlib.contextmanager
def launch(name: str, workdir: Path | None = None, **hubbub_env: str) -> Iterator[Target]:
    """Start target `name` on a free port (fresh database where one is needed); stop it after."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"bench-{name}-")))
        if name == HUBBUB:
            url = stack.enter_context(servers.mysql_database())
            schema_by = servers.migrate(url, workdir / "migrate.log")
            server = servers.start_hubbub(url, workdir, **hubbub_env)
            server.info["schema"] = schema_by
            target = Target(name, server, JSON, database_url=url, bcrypt_rounds=int(hubbub_env.get("HUBBUB_BCRYPT_ROUNDS", 4)))
        elif name == AIOHTTP_BATCHED:
            url = stack.enter_context(servers.mysql_database("hubbub_bench_peer"))
            target = Target(name, servers.start_peer(name, workdir, url), JSON, database_url=url)
        elif name in (AIOHTTP_RELAY, SOCKETIO_RELAY):
            target = Target(name, servers.start_peer(name, workdir), SOCKETIO if name == SOCKETIO_RELAY else JSON)
        else:
            raise ValueError(f"unknown target {name!r}; one of {', '.join(ALL)}")
        try:
            yield target
        finally:
            code = target.server.stop()
            target.server.info["exit_code"] = code
