"""What every peer keeps in memory: conversations, per-conversation seq, MessageVOs shaped
exactly like Hubbub's (same fields, same sizes on the wire), and a tiny group endpoint.

A peer is a floor, not a chat server: no users table, no membership checks beyond the
group list, nothing survives a restart (except what the batched writer stores)."""

from __future__ import annotations

import itertools
import time
from typing import Any

import orjson
from aiohttp import web


class ChatState:
    def __init__(self) -> None:
        self._direct: dict[tuple[int, int], int] = {}
        self.groups: dict[int, list[int]] = {}
        self._seq: dict[int, int] = {}
        self._ids = itertools.count(1)
        self._conversation_ids = itertools.count(1)

    def new_group(self, owner_id: int, member_ids: list[int]) -> int:
        conversation_id = next(self._conversation_ids)
        self.groups[conversation_id] = sorted(set(member_ids) | {owner_id})
        return conversation_id

    def prepare(self, sender_id: int, data: Any) -> tuple[dict, list[int]]:
        """A MessageVO without its id yet, and the users it goes to; ValueError when invalid."""
        if not isinstance(data, dict) or not isinstance(data.get("content"), str) or not data["content"]:
            raise ValueError("content is required")
        receiver_id = data.get("receiver_id")
        if receiver_id is not None:
            pair = (min(sender_id, receiver_id), max(sender_id, receiver_id))
            conversation_id = self._direct.get(pair)
            if conversation_id is None:
                conversation_id = self._direct[pair] = next(self._conversation_ids)
            audience = list(pair)
        else:
            conversation_id = data.get("conversation_id")
            audience = self.groups.get(conversation_id)
            if audience is None or sender_id not in audience:
                raise LookupError("no such conversation")
        seq = self._seq.get(conversation_id, 0) + 1
        self._seq[conversation_id] = seq
        vo = {
            "id": None,
            "conversation_id": conversation_id,
            "seq": seq,
            "sender_id": sender_id,
            "receiver_id": receiver_id,
            "content": data["content"],
            "msg_type": 1,
            "status": 1,
            "client_msg_id": data.get("client_msg_id"),
            "created_at": int(time.time() * 1000),
        }
        return vo, audience

    def next_id(self) -> int:
        return next(self._ids)


def reply(frame_id: Any, code: int, message: str, data: Any) -> str:
    return orjson.dumps({"type": "reply", "id": frame_id, "code": code, "message": message, "data": data}).decode()


def bearer_user(request: web.Request) -> int:
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else request.query.get("token", "")
    try:
        return int(token)
    except ValueError:
        raise web.HTTPUnauthorized() from None


def add_rest_routes(app: web.Application, state: ChatState, on_group=None) -> None:
    """GET /healthz, and POST /api/conversations for groups (the only REST call the
    benchmark makes of a peer), answering in Hubbub's envelope."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"code": 200, "message": "ok", "data": None})

    async def create_conversation(request: web.Request) -> web.Response:
        owner_id = bearer_user(request)
        body = await request.json()
        conversation_id = state.new_group(owner_id, [int(i) for i in body.get("member_ids", [])])
        if on_group is not None:
            await on_group(conversation_id, state.groups[conversation_id])
        return web.json_response({"code": 201, "message": "ok", "data": {"id": conversation_id, "type": "group"}}, status=201)

    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/conversations", create_conversation)


def use_uvloop() -> None:
    """Same event loop as `hubbub serve` uses, so the comparison is of the code, not the loop."""
    try:
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
