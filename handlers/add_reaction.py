"""`add_reaction`: react to a message with an emoji (once per emoji)."""

from handlers.base import Context, Handler
from handlers.fields import id_field
from handlers.schemas import ReactionSchema


class AddReactionSchema(ReactionSchema):
    message_id = id_field(required=True)


class AddReactionHandler(Handler):
    type = "add_reaction"
    schema = AddReactionSchema
    reply = "MessageVO"

    async def handle(self, ctx: Context, data: dict) -> dict:
        return await ctx.services.reactions.add(ctx.user_id, data["message_id"], data["emoji"], origin=ctx.socket)
