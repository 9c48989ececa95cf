"""Peer: python-socketio on aiohttp doing the same relay without persisting.

    python -m bench.peers.socketio_relay --port 9003

Idiomatic Socket.IO: the client authenticates in the CONNECT packet (`auth: {"token": "<user id>"}`),
each socket joins the room of its user (and of its groups), `send_message` is an event with an
acknowledgement, the ack carries the same `reply` object Hubbub sends, and `message.new` is
emitted to the receiver's room (or the group's room) skipping the sending socket.
python-socketio's defaults otherwise (its json module, async handlers); uvloop as for all."""

from __future__ import annotations

import argparse
import time

import socketio
from aiohttp import web

from bench.peers.common import ChatState, add_rest_routes, use_uvloop


def make_app() -> web.Application:
    state = ChatState()
    sio = socketio.AsyncServer(async_mode="aiohttp", cors_allowed_origins="*")
    user_of: dict[str, int] = {}
    sids_of: dict[int, set[str]] = {}

    @sio.event
    async def connect(sid, _environ, auth):
        try:
            user_id = int((auth or {}).get("token"))
        except (TypeError, ValueError):
            raise socketio.exceptions.ConnectionRefusedError("invalid token") from None
        user_of[sid] = user_id
        sids_of.setdefault(user_id, set()).add(sid)
        await sio.enter_room(sid, f"user:{user_id}")
        for conversation_id, members in state.groups.items():
            if user_id in members:
                await sio.enter_room(sid, f"group:{conversation_id}")

    @sio.event
    async def disconnect(sid, *_args):
        user_id = user_of.pop(sid, None)
        if user_id is not None:
            sids_of.get(user_id, set()).discard(sid)

    @sio.on("ping")
    async def ping(_sid, _data=None):
        return {"type": "reply", "id": None, "code": 200, "message": "ok", "data": {"ts": int(time.time() * 1000)}}

    @sio.on("send_message")
    async def send_message(sid, data):
        try:
            vo, _audience = state.prepare(user_of[sid], data)
        except ValueError as exc:
            return {"type": "reply", "id": None, "code": 422, "message": str(exc), "data": None}
        except LookupError as exc:
            return {"type": "reply", "id": None, "code": 404, "message": str(exc), "data": None}
        vo["id"] = state.next_id()
        room = f"user:{data['receiver_id']}" if data.get("receiver_id") is not None else f"group:{vo['conversation_id']}"
        await sio.emit("message.new", vo, room=room, skip_sid=sid)
        return {"type": "reply", "id": None, "code": 201, "message": "ok", "data": vo}

    async def on_group(conversation_id: int, members: list[int]) -> None:
        # Sockets already connected join the new group's room.
        for member in members:
            for sid in sids_of.get(member, ()):
                await sio.enter_room(sid, f"group:{conversation_id}")

    app = web.Application()
    sio.attach(app)
    add_rest_routes(app, state, on_group=on_group)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=9003)
    args = parser.parse_args()
    use_uvloop()
    web.run_app(make_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
