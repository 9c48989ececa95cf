"""SIGTERM on a real `hubbub serve`: /readyz fails first, for `shutdown_drain_seconds`, while the
process still serves; only then do its sockets get 1001 and the process exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.processes import free_port

DRAIN_SECONDS = 2.0


async def test_sigterm_fails_readiness_before_sockets_close(tmp_path: Path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUBBUB_")}
    env.update(HUBBUB_ENV="testing", HUBBUB_PORT=str(port), HUBBUB_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'h.db'}", HUBBUB_SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS))
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as session:
            for _ in range(150):
                try:
                    async with session.get("/readyz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(log.read_text())
            body = {"username": "alice", "email": "a@example.com", "password": "secret1"}
            assert (await session.post("/api/auth/register", json=body)).status == 201
            login = {"username": "alice", "password": "secret1"}
            token = (await (await session.post("/api/auth/login", json=login)).json())["data"]["token"]
            ws = await session.ws_connect("/ws", headers={"Authorization": f"Bearer {token}"})

            server.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            await asyncio.sleep(0.3)
            async with session.get("/readyz") as response:
                assert response.status == 503
                assert (await response.json())["message"] == "not ready: shutting down"
            async with session.get("/healthz") as response:
                assert response.status == 200  # alive, and still serving
            await ws.send_json({"type": "ping", "id": 1})
            assert (await ws.receive_json(timeout=2))["code"] == 200

            closing = await ws.receive(timeout=DRAIN_SECONDS + 5)
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1001
            assert time.monotonic() - signalled >= DRAIN_SECONDS - 0.1
        assert server.wait(timeout=15) == 0, log.read_text()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
