"""`forward_message`: send a copy of a message one may read to another conversation or user."""

from handlers.base import Context, Handler, Reply
from handlers.fields import id_field
from handlers.schemas import ForwardMessageSchema


class ForwardMessageFrameSchema(ForwardMessageSchema):
    message_id = id_field(required=True)


class ForwardMessageHandler(Handler):
    type = "forward_message"
    schema = ForwardMessageFrameSchema
    reply = "MessageVO"

    async def handle(self, ctx: Context, data: dict) -> Reply:
        target = {key: value for key, value in data.items() if key != "message_id"}
        message, created = await ctx.services.messaging.forward(ctx.user_id, data["message_id"], origin=ctx.socket, **target)
        return Reply(message, 201 if created else 200)
