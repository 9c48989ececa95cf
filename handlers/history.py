"""`history`: a page of a conversation's messages (and, asked for, its notices), as GET
/api/conversations/{id}/messages."""

from handlers.base import Context, Handler
from handlers.fields import id_field
from handlers.schemas import HistoryQuerySchema


class HistoryFrameSchema(HistoryQuerySchema):
    conversation_id = id_field(required=True)


class HistoryHandler(Handler):
    type = "history"
    schema = HistoryFrameSchema
    reply = "[MessageVO] | HistoryPageVO"

    async def handle(self, ctx: Context, data: dict) -> list[dict] | dict:
        return await ctx.services.messaging.history(
            ctx.user_id,
            data["conversation_id"],
            before=data["before"],
            after=data["after"],
            changed_after=data["changed_after"],
            limit=data["limit"],
            with_notices=data["with_notices"],
        )
