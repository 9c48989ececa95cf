"""`typing`: tell the other members that the caller is typing; nothing is stored."""

from handlers.base import Context, Handler
from handlers.fields import id_field
from handlers.schemas import StrictSchema


class TypingSchema(StrictSchema):
    conversation_id = id_field(required=True)


class TypingHandler(Handler):
    type = "typing"
    schema = TypingSchema
    reply = "null"

    async def handle(self, ctx: Context, data: dict) -> None:
        await ctx.services.conversations.typing(ctx.user_id, data["conversation_id"])
