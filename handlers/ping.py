"""`ping`: a liveness check that also tells the client the server's clock."""

import time

from marshmallow import Schema, fields

from handlers.base import Context, Handler


class PingReply(Schema):
    ts = fields.Integer(required=True, metadata={"description": "the server's time, ms since the epoch"})


class PingHandler(Handler):
    type = "ping"
    reply = PingReply

    async def handle(self, ctx: Context, data: dict) -> dict:
        return {"ts": int(time.time() * 1000)}
