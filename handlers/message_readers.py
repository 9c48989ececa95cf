"""`message_readers`: who has read a message, from the members' read markers."""

from handlers.base import Context, Handler
from handlers.fields import id_field
from handlers.schemas import StrictSchema


class MessageReadersSchema(StrictSchema):
    conversation_id = id_field(required=True)
    message_id = id_field(required=True)


class MessageReadersHandler(Handler):
    type = "message_readers"
    schema = MessageReadersSchema
    reply = "[UserVO]"

    async def handle(self, ctx: Context, data: dict) -> list[dict]:
        return await ctx.services.messaging.readers(ctx.user_id, data["conversation_id"], data["message_id"])
