"""`add_reaction`: react to a message with an emoji."""

from marshmallow import Schema, fields, validate

from handlers.base import Context, Handler
from handlers.errors import Forbidden
from hubbub_example_plugin import store

RECALLED = 3


class AddReactionSchema(Schema):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    emoji = fields.String(required=True, validate=validate.Length(min=1, max=8))


class AddReactionHandler(Handler):
    type = "add_reaction"
    schema = AddReactionSchema
    tables = (store.reactions,)

    async def handle(self, ctx: Context, data: dict) -> dict:
        message = await ctx.message(data["message_id"])  # 404 unless the caller may see it
        if message["status"] == RECALLED:
            raise Forbidden("a recalled message takes no reactions")
        async with ctx.db.begin() as conn:
            added = await store.add(conn, message["id"], ctx.user_id, data["emoji"])
            counts = await store.counts(conn, message["id"])
        if added:
            event = {"conversation_id": message["conversation_id"], "message_id": message["id"], "user_id": ctx.user_id, "emoji": data["emoji"]}
            await ctx.push_to_conversation(message["conversation_id"], "reaction.added", event)
        return {"message_id": message["id"], "reactions": counts}
