"""`edit_message`: the sender replaces a text message's content within the edit window."""

from handlers.base import Context, Handler
from handlers.fields import id_field
from handlers.schemas import EditMessageSchema


class EditMessageFrameSchema(EditMessageSchema):
    message_id = id_field(required=True)


class EditMessageHandler(Handler):
    type = "edit_message"
    schema = EditMessageFrameSchema
    reply = "MessageVO"

    async def handle(self, ctx: Context, data: dict) -> dict:
        return await ctx.services.messaging.edit(ctx.user_id, data["message_id"], data["content"], origin=ctx.socket)
