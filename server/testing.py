"""The pytest plugin shipped with the server (entry point `pytest11`: hubbub), for testing a
plugin from its own repository with nothing but `pip install hubbub[test]` and the plugin
installed. Its fixtures start a real `hubbub serve` with the installed plugins loaded and talk
to it as a client would (PLUGINS.md §8):

- `hubbub_server`: a fresh server for the test: a `hubbub serve` process on a free loopback
  port, on an SQLite database of its own (migrated, the plugins' schemas included, as the
  embedded database migrates itself), every installed plugin loaded. Stopped after the test.
- `hubbub_env`: the environment it starts with; override this fixture to change settings
  (`HUBBUB_*` variables, PLUGINS.md §9), e.g. to point it at MariaDB (run `hubbub migrate` first).
- `hubbub_client`: `await hubbub_client.user("alice")` registers and logs in a user.

Every fixture is named `hubbub_...` so that none shadows a project's own. The async fixture
is a pytest-asyncio fixture: it works in the strict mode and the auto mode alike."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

try:
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # without pytest-asyncio (not `hubbub[test]`): the sync fixtures still work
    async_fixture = pytest.fixture

PASSWORD = "correct horse battery staple"
START_SECONDS = 60.0


@dataclass(frozen=True)
class HubbubServer:
    url: str  # http://127.0.0.1:<port>
    database_url: str
    log: Path  # what the server wrote, for a failing test to show


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def hubbub_env(tmp_path: Path) -> dict[str, str]:
    """The server's environment: the `testing` settings on a fresh SQLite database, every
    installed plugin loaded."""
    return {
        "HUBBUB_ENV": "testing",
        "HUBBUB_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'hubbub.db'}",
        "HUBBUB_UPLOAD_DIR": str(tmp_path / "uploads"),
        "HUBBUB_PLUGINS_AUTOLOAD": "true",
        "HUBBUB_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def hubbub_server(hubbub_env: dict[str, str], tmp_path: Path) -> Iterator[HubbubServer]:
    port = _free_port()
    log = tmp_path / "hubbub-serve.log"
    env = {**os.environ, **hubbub_env, "HUBBUB_HOST": "127.0.0.1", "HUBBUB_PORT": str(port)}
    command = [sys.executable, "-m", "server.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=tmp_path)
    server = HubbubServer(f"http://127.0.0.1:{port}", env["HUBBUB_DATABASE_URL"], log)
    try:
        _wait_until_ready(process, server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(process: subprocess.Popen, server: HubbubServer) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hubbub serve exited with {process.returncode}:\n{server.log.read_text()}")
        try:
            with urllib.request.urlopen(f"{server.url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"hubbub serve was not ready within {START_SECONDS}s:\n{server.log.read_text()}")


class HubbubSocket:
    """One open socket. Replies and pushed events are told apart; events that arrive while
    waiting for something else are kept for a later `event`."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.events: list[dict] = []
        self._counter = 0

    async def request(self, type_: str, data: dict | None = None, timeout: float = 5) -> dict:
        """Send `{"type", "id", "data"}` and return the whole reply frame
        (`{"type": "reply", "id", "code", "message", "data"}`), whatever its code."""
        self._counter += 1
        frame_id = self._counter
        await self.ws.send_str(json.dumps({"type": type_, "id": frame_id, "data": data or {}}))
        while True:
            frame = await self._receive(timeout)
            if frame.get("type") == "reply" and frame.get("id") == frame_id:
                return frame
            self.events.append(frame)

    async def ok(self, type_: str, data: dict | None = None) -> Any:
        """The reply's `data`; AssertionError unless its code is 2xx."""
        reply = await self.request(type_, data)
        assert 200 <= reply["code"] < 300, reply
        return reply["data"]

    async def fails(self, code: int, type_: str, data: dict | None = None) -> dict:
        """The reply; AssertionError unless its code is `code`."""
        reply = await self.request(type_, data)
        assert reply["code"] == code, reply
        return reply

    async def event(self, type_: str, timeout: float = 5) -> dict:
        """The next pushed event of `type_`, the whole frame (`{"type", "data"}`). Raises
        AssertionError when none comes within `timeout` seconds."""
        for index, frame in enumerate(self.events):
            if frame.get("type") == type_:
                return self.events.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                frame = await self._receive(max(left, 0))
            except TimeoutError:
                raise AssertionError(f"no {type_!r} event within {timeout}s (others kept: {[e.get('type') for e in self.events]})") from None
            if frame.get("type") == type_:
                return frame
            self.events.append(frame)

    async def no_event(self, type_: str, wait: float = 0.3) -> None:
        """Returns None when no event of `type_` arrives within `wait` seconds (nor is already
        kept); raises AssertionError, naming the event, when one does."""
        try:
            frame = await self.event(type_, timeout=wait)
        except AssertionError:
            return
        raise AssertionError(f"unexpected {type_!r} event: {frame}")

    async def close(self) -> None:
        await self.ws.close()

    async def _receive(self, timeout: float) -> dict:
        from aiohttp import WSMsgType

        try:
            message = await self.ws.receive(timeout=timeout)
        except asyncio.TimeoutError:
            raise TimeoutError from None
        if message.type != WSMsgType.TEXT:
            raise ConnectionError(f"the socket closed: {message.type} {message.data} {message.extra}")
        return json.loads(message.data)


@dataclass
class HubbubUser:
    """A registered, logged-in user. REST calls answer `(status, envelope)`; `ok` and `fails`
    check the code for you."""

    client: "HubbubClient"
    id: int
    username: str
    token: str
    sockets: list[HubbubSocket] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict]:
        """Any REST call, `path` from /api on, with `json=`, `params=`, `data=`, `headers=`."""
        headers = {**self.auth, **kwargs.pop("headers", {})}
        async with self.client.session.request(method, f"{self.client.server.url}{path}", headers=headers, **kwargs) as response:
            return response.status, await response.json()

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        """The envelope's `data`; AssertionError unless the status is 2xx."""
        status, body = await self.call(method, path, **kwargs)
        assert 200 <= status < 300, (status, body)
        return body["data"]

    async def fails(self, code: int, method: str, path: str, **kwargs: Any) -> dict:
        """The error envelope `{"code", "message", "data"}`; AssertionError unless the status
        (and the envelope's code) is `code`."""
        status, body = await self.call(method, path, **kwargs)
        assert status == code and body.get("code") == code, (status, body)
        return body

    async def connect(self) -> HubbubSocket:
        ws = await self.client.session.ws_connect(f"{self.client.server.url}/ws", headers=self.auth)
        opened = HubbubSocket(ws)
        self.sockets.append(opened)
        return opened


class HubbubClient:
    def __init__(self, server: HubbubServer, session: Any) -> None:
        self.server = server
        self.session = session
        self.users: list[HubbubUser] = []

    async def user(self, username: str, password: str = PASSWORD) -> HubbubUser:
        """Registers `username` and logs in."""
        base = self.server.url
        async with self.session.post(f"{base}/api/auth/register", json={"username": username, "email": f"{username}@example.com", "password": password}) as response:
            assert response.status == 201, await response.text()
        async with self.session.post(f"{base}/api/auth/login", json={"username": username, "password": password}) as response:
            body = await response.json()
            assert response.status == 200, body
        made = HubbubUser(self, body["data"]["user"]["id"], username, body["data"]["token"])
        self.users.append(made)
        return made

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict]:
        """A REST call without a token."""
        async with self.session.request(method, f"{self.server.url}{path}", **kwargs) as response:
            return response.status, await response.json()


@async_fixture
async def hubbub_client(hubbub_server: HubbubServer) -> AsyncIterator[HubbubClient]:
    from aiohttp import ClientSession

    async with ClientSession() as session:
        client = HubbubClient(hubbub_server, session)
        yield client
        for made in client.users:
            for opened in made.sockets:
                await opened.close()
