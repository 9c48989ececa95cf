"""`mark_read`: move the caller's read marker forward and tell the other members and devices."""

from handlers.base import Context, Handler
from handlers.fields import id_field
from handlers.schemas import MarkReadSchema


class MarkReadFrameSchema(MarkReadSchema):
    conversation_id = id_field(required=True)


class MarkReadHandler(Handler):
    type = "mark_read"
    schema = MarkReadFrameSchema
    reply = "ReadMarkerVO"

    async def handle(self, ctx: Context, data: dict) -> dict:
        return await ctx.services.messaging.mark_read(ctx.user_id, data["conversation_id"], data["seq"], origin=ctx.socket)
