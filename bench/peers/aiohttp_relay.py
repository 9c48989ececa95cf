"""Peer: a raw aiohttp WebSocket relay, the framework floor. With `--mysql URL` it is the same
relay with a batched MariaDB writer in front of the reply, the persistence floor.

    python -m bench.peers.aiohttp_relay --port 9001
    python -m bench.peers.aiohttp_relay --port 9002 --mysql mysql+aiomysql://hubbub:hubbub@127.0.0.1:3306/db

Frames are handled one at a time per socket, in order, as Hubbub does. A reply and its push
are serialized once each (orjson) and written straight to the socket."""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import orjson
from aiohttp import WSMsgType, web

from bench.peers.batch_writer import BatchWriter
from bench.peers.common import ChatState, add_rest_routes, bearer_user, reply, use_uvloop


def make_app(writer: BatchWriter | None = None) -> web.Application:
    state = ChatState()
    sockets: dict[int, set[web.WebSocketResponse]] = defaultdict(set)

    async def handle_frame(ws: web.WebSocketResponse, user_id: int, payload: str) -> str:
        try:
            frame = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return reply(None, 400, "frame is not valid JSON", None)
        frame_id, kind = frame.get("id"), frame.get("type")
        if kind == "ping":
            return reply(frame_id, 200, "ok", {"ts": int(time.time() * 1000)})
        if kind != "send_message":
            return reply(frame_id, 400, "unknown type", None)
        try:
            vo, audience = state.prepare(user_id, frame.get("data"))
        except ValueError as exc:
            return reply(frame_id, 422, str(exc), None)
        except LookupError as exc:
            return reply(frame_id, 404, str(exc), None)
        # Persisted (committed) before the reply and the push when a writer is configured.
        vo["id"] = await writer.write(vo) if writer is not None else state.next_id()
        push = orjson.dumps({"type": "message.new", "data": vo}).decode()
        for member in audience:
            for other in sockets.get(member, ()):
                if other is not ws:
                    await other.send_str(push)
        return reply(frame_id, 201, "ok", vo)

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        user_id = bearer_user(request)
        ws = web.WebSocketResponse(compress=False, max_msg_size=65536, heartbeat=30)
        await ws.prepare(request)
        sockets[user_id].add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await ws.send_str(await handle_frame(ws, user_id, msg.data))
        finally:
            sockets[user_id].discard(ws)
            if not sockets[user_id]:
                del sockets[user_id]
        return ws

    app = web.Application()
    app.router.add_get("/ws", websocket)
    add_rest_routes(app, state)
    if writer is not None:
        app.cleanup_ctx.append(writer.lifetime)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--mysql", help="database URL: store every message through the batched writer")
    args = parser.parse_args()
    use_uvloop()
    writer = BatchWriter(args.mysql) if args.mysql else None
    web.run_app(make_app(writer), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
