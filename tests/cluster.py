"""Real processes for the cluster tests: a private `nats-server` and `hubbub serve` nodes sharing
one database and that NATS, each on its own loopback port, stopped by PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from tests.processes import free_port, hubbub_command

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


class NatsServer:
    """nats-server on a loopback port of its own; `stop` and `start` again keep the port."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self._log = log
        self._proc: subprocess.Popen | None = None

    async def start(self) -> None:
        self._spawn()
        for _ in range(100):
            if self._answers():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"nats-server did not start:\n{self._log.read_text()}")

    def start_blocking(self) -> None:
        """For session fixtures, which have no event loop."""
        self._spawn()
        for _ in range(100):
            if self._answers():
                return
            time.sleep(0.05)
        raise AssertionError(f"nats-server did not start:\n{self._log.read_text()}")

    def _spawn(self) -> None:
        with self._log.open("ab") as log:
            self._proc = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port)], stdout=log, stderr=subprocess.STDOUT)

    def _answers(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


class Node:
    """One `hubbub serve` process of the cluster."""

    def __init__(self, index: int, env: dict[str, str], log: Path) -> None:
        self.index = index
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = env
        self._log = log
        self.proc: subprocess.Popen | None = None
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        with self._log.open("ab") as log:
            self.proc = subprocess.Popen([*hubbub_command(), "serve", "--port", str(self.port)], env=self._env, stdout=log, stderr=subprocess.STDOUT)
        self.session = aiohttp.ClientSession(base_url=self.url)
        for _ in range(300):
            if self.proc.poll() is not None:
                raise AssertionError(f"node {self.index} exited with {self.proc.returncode}:\n{self._log.read_text()}")
            try:
                async with self.session.get("/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"node {self.index} did not answer:\n{self._log.read_text()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=15)

    async def close(self) -> None:
        self.kill(signal.SIGTERM)
        if self.session is not None:
            await self.session.close()

    def log_text(self) -> str:
        return self._log.read_text(errors="replace")


def node_env(database_url: str, bus_url: str, upload_dir: Path, **settings: object) -> dict[str, str]:
    env = {
        **os.environ,
        "HUBBUB_ENV": "testing",
        "HUBBUB_DATABASE_URL": database_url,
        "HUBBUB_BUS_URL": bus_url,
        "HUBBUB_UPLOAD_DIR": str(upload_dir),
        "HUBBUB_BUS_HEARTBEAT_SECONDS": "0.5",
        "HUBBUB_BUS_NODE_TIMEOUT_SECONDS": "3",
        "HUBBUB_LOG_LEVEL": "INFO",
    }
    env.update({f"HUBBUB_{key.upper()}": str(value) for key, value in settings.items()})
    return env


async def until_buses_connected(apps: list, timeout: float = 10) -> None:
    """Until every in-process node's bus is connected and subscribed."""
    from server.keys import DELIVERY

    deadline = time.monotonic() + timeout
    while not all(app[DELIVERY].bus_connected for app in apps):
        assert time.monotonic() < deadline, "the nodes' buses did not connect"
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def two_servers_on_a_bus(aiohttp_client, settings, monkeypatch, log: Path) -> AsyncIterator[tuple]:
    """Two in-process apps on one database and a private nats-server (its log in `log`), their
    buses connected, and the token sweep off: a socket that one of them closes for the other's
    action can only have been closed over the bus. Yields their two test clients."""
    import server.app

    nats = NatsServer(log)
    await nats.start()
    try:
        monkeypatch.setattr(server.app, "TOKEN_SWEEP_SECONDS", 3600)
        first = await aiohttp_client(server.app.create_app(settings.replace(bus_url=nats.url)))
        second = await aiohttp_client(server.app.create_app(settings.replace(bus_url=nats.url)))
        await until_buses_connected([first.server.app, second.server.app])
        yield first, second
    finally:
        nats.stop()
