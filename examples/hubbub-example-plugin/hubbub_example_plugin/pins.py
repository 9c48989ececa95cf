"""`pins.pin`: pin a message to its conversation (or unpin it with `"pinned": false`)."""

from marshmallow import Schema, fields, validate

from handlers.api import Context, Forbidden, Handler, require_api
from hubbub_example_plugin import store

require_api("1.0")

RECALLED = 3


class PinSchema(Schema):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    pinned = fields.Boolean(load_default=True)


class PinHandler(Handler):
    type = "pins.pin"
    schema = PinSchema
    tables = (store.pins,)

    async def handle(self, ctx: Context, data: dict) -> dict:
        message = await ctx.message(data["message_id"])  # 404 unless the caller may see it
        if data["pinned"] and message["status"] == RECALLED:
            raise Forbidden("a recalled message cannot be pinned")
        conversation_id = message["conversation_id"]
        async with ctx.db.begin() as conn:
            if data["pinned"]:
                changed = await store.pin(conn, conversation_id, message["id"], ctx.user_id)
            else:
                changed = await store.unpin(conn, conversation_id, message["id"])
            pinned = await store.pinned(conn, conversation_id)
        if changed:  # pinning a pinned message again is a retry: nobody hears of it
            event = {"conversation_id": conversation_id, "message_id": message["id"], "pinned": data["pinned"], "user_id": ctx.user_id}
            await ctx.push_to_conversation(conversation_id, "pins.changed", event, skip_own_socket=True)
        return {"conversation_id": conversation_id, "pinned": pinned}
