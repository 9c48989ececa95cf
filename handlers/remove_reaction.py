"""`remove_reaction`: take one's reaction to a message back."""

from handlers.base import Context, Handler
from handlers.fields import id_field
from handlers.schemas import ReactionSchema


class RemoveReactionSchema(ReactionSchema):
    message_id = id_field(required=True)


class RemoveReactionHandler(Handler):
    type = "remove_reaction"
    schema = RemoveReactionSchema
    reply = "MessageVO"

    async def handle(self, ctx: Context, data: dict) -> dict:
        return await ctx.services.reactions.remove(ctx.user_id, data["message_id"], data["emoji"], origin=ctx.socket)
