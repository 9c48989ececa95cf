"""`recall`: the sender withdraws a message within the recall window."""

from handlers.base import Context, Handler
from handlers.fields import id_field
from handlers.schemas import StrictSchema


class RecallSchema(StrictSchema):
    message_id = id_field(required=True)


class RecallHandler(Handler):
    type = "recall"
    schema = RecallSchema
    reply = "MessageVO"

    async def handle(self, ctx: Context, data: dict) -> dict:
        return await ctx.services.messaging.recall(ctx.user_id, data["message_id"])
