"""The suite's chat client: accounts over REST and sockets that match replies to frames by id
and hand every `message.new` to the checker. It talks to a list of server URLs and moves on to
the next one when the one it used stops answering."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.faults.checker import Checker

PASSWORD = "fault suite password"
CONNECT_TIMEOUT = 3.0


class LinkLost(ConnectionError):
    """The socket closed (or was cut) before the reply came."""


@dataclass
class Account:
    id: int
    username: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def call(session: aiohttp.ClientSession, url: str, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
    """One REST call: (status, decoded envelope)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, f"{url}{path}", headers=headers, timeout=aiohttp.ClientTimeout(total=15), **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def ok(session: aiohttp.ClientSession, url: str, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
    status, body = await call(session, url, method, path, token, **kwargs)
    assert 200 <= status < 300, (method, path, status, body)
    return body["data"]


async def register(session: aiohttp.ClientSession, url: str, username: str) -> Account:
    await ok(session, url, "POST", "/api/auth/register", json={"username": username, "email": f"{username}@example.com", "password": PASSWORD})
    login = await ok(session, url, "POST", "/api/auth/login", json={"username": username, "password": PASSWORD})
    return Account(login["user"]["id"], username, login["token"])


async def group(session: aiohttp.ClientSession, url: str, owner: Account, members: list[Account], name: str) -> int:
    created = await ok(session, url, "POST", "/api/conversations", owner.token, json={"type": "group", "name": name, "member_ids": [m.id for m in members if m.id != owner.id]})
    return created["id"]


async def direct(session: aiohttp.ClientSession, url: str, one: Account, other: Account) -> int:
    return (await ok(session, url, "POST", "/api/conversations", one.token, json={"type": "direct", "peer_id": other.id}))["id"]


class Link:
    """One open socket. `client` names whose view its pushes join (see Checker.follow)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, label: str, client: str, checker: Checker, url: str) -> None:
        self.ws = ws
        self.label = label
        self.client = client
        self.url = url
        self._checker = checker
        self._waiting: dict[str, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self.arrivals: list[tuple[dict, float]] = []  # each message.new, with its monotonic time
        self.highest: dict[int, int] = {}  # conversation → highest seq pushed here
        self.events: list[dict] = []  # other pushed events
        self.close_code: int | None = None
        self._reader = asyncio.create_task(self._read(), name=f"link-{label}")

    @property
    def closed(self) -> bool:
        return self._reader.done()

    async def send(self, type_: str, data: dict) -> asyncio.Future:
        """Send a frame; the future gets its reply, or LinkLost. Frames can be pipelined."""
        frame_id = f"{self.label}-{next(self._ids)}"
        future = asyncio.get_running_loop().create_future()
        if self.closed:
            future.set_exception(LinkLost(self.label))
            return future
        self._waiting[frame_id] = future
        try:
            await self.ws.send_str(json.dumps({"type": type_, "id": frame_id, "data": data}))
        except (ConnectionError, RuntimeError, aiohttp.ClientError):
            self._waiting.pop(frame_id, None)
            if not future.done():
                future.set_exception(LinkLost(self.label))
        return future

    async def request(self, type_: str, data: dict | None = None, timeout: float = 10) -> dict:
        return await asyncio.wait_for(await self.send(type_, data or {}), timeout)

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                if frame.get("type") == "reply":
                    future = self._waiting.pop(frame.get("id"), None)
                    if future is None:
                        self._checker.fault(f"socket {self.label}: a reply to no frame of ours: {msg.data[:200]}")
                    elif not future.done():
                        future.set_result(frame)
                elif frame.get("type") == "message.new":
                    message = frame["data"]
                    self.arrivals.append((message, time.monotonic()))
                    self.highest[message["conversation_id"]] = max(self.highest.get(message["conversation_id"], 0), message["seq"])
                    self._checker.pushed(self.label, self.client, message)
                else:
                    self.events.append(frame)
        except (ConnectionError, aiohttp.ClientError, asyncio.CancelledError):
            pass
        finally:
            self.close_code = self.ws.close_code
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(LinkLost(self.label))
            self._waiting.clear()

    async def wait_closed(self, timeout: float) -> int | None:
        await asyncio.wait({self._reader}, timeout=timeout)
        return self.close_code

    async def close(self) -> None:
        try:
            await self.ws.close()
        except (ConnectionError, RuntimeError):
            pass
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)


class Dialer:
    """Opens sockets for one account, spread over the URL list: each connect starts at the next
    URL and tries the others until one answers or the deadline passes."""

    def __init__(self, session: aiohttp.ClientSession, urls: list[str], account: Account, checker: Checker, client: str, start: int = 0) -> None:
        self.session = session
        self.urls = urls
        self.account = account
        self.checker = checker
        self.client = client
        self._next = start
        self._links = itertools.count(1)

    async def connect(self, deadline: float) -> Link:
        while True:
            url = self.urls[self._next % len(self.urls)]
            self._next += 1
            try:
                ws = await self.session.ws_connect(
                    f"{url}/ws", headers=self.account.auth, max_msg_size=0, timeout=aiohttp.ClientWSTimeout(ws_close=2), autoping=True
                )
            except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
                continue
            link = Link(ws, f"{self.client}.{next(self._links)}", self.client, self.checker, url)
            try:
                # Replied means registered: from here on it hears every push.
                await link.request("ping", timeout=CONNECT_TIMEOUT)
            except (LinkLost, asyncio.TimeoutError):
                await link.close()
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
                continue
            return link
