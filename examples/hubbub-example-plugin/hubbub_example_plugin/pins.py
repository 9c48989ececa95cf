"""The plugin's frame types: `pins.pin` pins a message to its conversation (or unpins it with
`"pinned": false`), `pins.list` lists a conversation's pins."""

from marshmallow import Schema, fields, validate

from handlers.api import Context, Forbidden, Handler, require_api
from hubbub_example_plugin import store

require_api("1.1")

RECALLED = 3


class PinSchema(Schema):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    pinned = fields.Boolean(load_default=True)
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class PinnedReply(Schema):
    conversation_id = fields.Integer(required=True)
    pinned = fields.List(fields.Integer(), required=True, metadata={"description": "the pinned message ids, oldest message first"})


class PinsChanged(Schema):
    conversation_id = fields.Integer(required=True)
    message_id = fields.Integer(required=True)
    pinned = fields.Boolean(required=True, metadata={"description": "false: unpinned"})
    user_id = fields.Integer(required=True, metadata={"description": "who pinned or unpinned it"})


class PinVO(Schema):
    message_id = fields.Integer(required=True)
    pinned_by = fields.Integer(required=True, metadata={"description": "the user who pinned it"})
    note = fields.String(allow_none=True, metadata={"description": "why, if they said"})


class PinHandler(Handler):
    """Pin a message to its conversation, or unpin it."""

    type = "pins.pin"
    schema = PinSchema
    reply = PinnedReply  # these two only describe it, in /api/asyncapi.json
    events = {"pins.changed": PinsChanged}

    async def handle(self, ctx: Context, data: dict) -> dict:
        message = await ctx.message(data["message_id"])  # 404 unless the caller may see it
        if data["pinned"] and message["status"] == RECALLED:
            raise Forbidden("a recalled message cannot be pinned")
        conversation_id = message["conversation_id"]
        async with ctx.db.begin() as conn:
            if data["pinned"]:
                changed = await store.pin(conn, conversation_id, message["id"], ctx.user_id, data["note"])
            else:
                changed = await store.unpin(conn, conversation_id, message["id"])
            pinned = await store.pinned(conn, conversation_id)
        if changed:  # pinning a pinned message again is a retry: nobody hears of it
            event = {"conversation_id": conversation_id, "message_id": message["id"], "pinned": data["pinned"], "user_id": ctx.user_id}
            await ctx.push_to_conversation(conversation_id, "pins.changed", event, skip_own_socket=True)
        return {"conversation_id": conversation_id, "pinned": pinned}


class ListSchema(Schema):
    conversation_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class ListReply(Schema):
    conversation_id = fields.Integer(required=True)
    pins = fields.List(fields.Nested(PinVO), required=True)


class ListHandler(Handler):
    """The pins of a conversation, oldest message first (as GET /api/plugins/pins/conversations/{id})."""

    type = "pins.list"
    schema = ListSchema
    reply = ListReply

    async def handle(self, ctx: Context, data: dict) -> dict:
        await ctx.require_member(data["conversation_id"])  # 404 unless the caller is a member
        async with ctx.db.connect() as conn:
            return {"conversation_id": data["conversation_id"], "pins": await store.listed(conn, data["conversation_id"])}
