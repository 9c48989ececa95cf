"""Test helpers that act as a user of the server: REST calls and real sockets."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient

from tests.conftest import CLUSTER_NODES

PASSWORD = "correct horse"
CROSS_NODE_SECONDS = 0.1
_node_turn = itertools.count()


class Socket:
    """A client socket that separates replies from pushed events."""

    def __init__(self, ws: ClientWebSocketResponse, node: TestClient | None = None) -> None:
        self.ws = ws
        self.node = node  # the server (cluster node) it is connected to, when known
        self._counter = 0

    async def send(self, type_: str, data: dict | None = None, frame_id: Any = "auto") -> Any:
        if frame_id == "auto":
            self._counter += 1
            frame_id = f"f{self._counter}"
        frame: dict = {"type": type_, "id": frame_id}
        if data is not None:
            frame["data"] = data
        await self.ws.send_str(json.dumps(frame))
        return frame_id

    async def request(self, type_: str, data: dict | None = None) -> dict:
        """Send a frame and return its reply; events received meanwhile are kept."""
        frame_id = await self.send(type_, data)
        reply = await self.reply()
        assert reply["id"] == frame_id, reply
        return reply

    async def reply(self, timeout: float = 5) -> dict:
        while True:
            frame = await self.receive(timeout)
            if frame.get("type") == "reply":
                return frame
            self.events.append(frame)

    async def event(self, type_: str, timeout: float = 5) -> dict:
        """The next pushed event of `type_` (earlier ones of other types are kept)."""
        for index, frame in enumerate(self.events):
            if frame["type"] == type_:
                return self.events.pop(index)
        while True:
            frame = await self.receive(timeout)
            if frame.get("type") == type_:
                return frame
            self.events.append(frame)

    async def no_event(self, type_: str, wait: float = 0.3) -> None:
        """Assert that no event of `type_` arrives within `wait` seconds."""
        try:
            frame = await self.event(type_, timeout=wait)
        except asyncio.TimeoutError:
            return
        raise AssertionError(f"unexpected {type_} event: {frame}")

    async def receive(self, timeout: float = 5) -> dict:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type != WSMsgType.TEXT:
            raise ConnectionError(f"socket closed: {msg.type} {msg.data} {msg.extra}")
        return json.loads(msg.data)

    async def close(self) -> None:
        await self.ws.close()

    @property
    def events(self) -> list[dict]:
        if not hasattr(self, "_events"):
            self._events: list[dict] = []
        return self._events


async def online(user: "ChatUser", count: int = 1) -> list[Socket]:
    """`count` open sockets of `user`, each known to be registered by the server (a ping
    round trip has completed on it)."""
    sockets = []
    for _ in range(count):
        socket = await user.connect()
        assert (await socket.request("ping"))["code"] == 200
        sockets.append(socket)
    return sockets


async def pushes_crossed() -> None:
    """In the cluster mode a push caused on one node reaches the sockets of the others after
    crossing the bus, a moment later: that moment. Nothing to wait for on one process."""
    if CLUSTER_NODES > 1:
        await asyncio.sleep(CROSS_NODE_SECONDS)


async def settle(socket: Socket) -> None:
    """Every push caused before now has arrived in `socket.events`: a ping round trip orders
    them, once the pushes of other nodes have crossed the bus (which the ping does not wait for)."""
    await pushes_crossed()
    assert (await socket.request("ping"))["code"] == 200


async def take(socket: Socket, type_: str) -> list[dict]:
    """The data of every `type_` event caused before now, removed from the socket's kept events."""
    await settle(socket)
    taken = [frame["data"] for frame in socket.events if frame["type"] == type_]
    socket.events[:] = [frame for frame in socket.events if frame["type"] != type_]
    return taken


@dataclass
class ChatUser:
    client: TestClient
    id: int
    username: str
    token: str
    sockets: list[Socket] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, **kwargs) -> tuple[int, dict]:
        response = await self.client.request(method, path, headers=self.auth, **kwargs)
        return response.status, await response.json()

    async def ok(self, method: str, path: str, **kwargs) -> Any:
        status, body = await self.call(method, path, **kwargs)
        assert status < 300, (status, body)
        return body["data"]

    async def connect(self) -> Socket:
        """A socket on the next node in turn (the cluster mode spreads sockets over its nodes)."""
        nodes = getattr(self.client, "cluster_nodes", None) or [self.client]
        node = nodes[next(_node_turn) % len(nodes)]
        ws = await node.ws_connect("/ws", headers=self.auth)
        socket = Socket(ws, node)
        self.sockets.append(socket)
        return socket


class UserFactory:
    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def make(self, username: str, password: str = PASSWORD) -> ChatUser:
        response = await self.client.post(
            "/api/auth/register", json={"username": username, "email": f"{username}@example.com", "password": password}
        )
        assert response.status == 201, await response.text()
        response = await self.client.post("/api/auth/login", json={"username": username, "password": password})
        body = await response.json()
        assert response.status == 200, body
        return ChatUser(self.client, body["data"]["user"]["id"], username, body["data"]["token"])
