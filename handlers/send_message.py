"""`send_message`: store a message (committed before the reply) and push `message.new`."""

from handlers.base import Context, Handler, Reply
from handlers.schemas import SendMessageSchema


class SendMessageHandler(Handler):
    type = "send_message"
    schema = SendMessageSchema
    reply = "MessageVO"

    async def handle(self, ctx: Context, data: dict) -> Reply:
        message, created = await ctx.services.messaging.send(ctx.user_id, origin=ctx.socket, **data)
        return Reply(message, 201 if created else 200)
