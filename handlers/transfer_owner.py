"""`transfer_owner`: the group owner hands the group over to another member."""

from handlers.base import Context, Handler
from handlers.fields import id_field
from handlers.schemas import TransferOwnerSchema


class TransferOwnerFrameSchema(TransferOwnerSchema):
    conversation_id = id_field(required=True)


class TransferOwnerHandler(Handler):
    type = "transfer_owner"
    schema = TransferOwnerFrameSchema
    reply = "ConversationVO"

    async def handle(self, ctx: Context, data: dict) -> dict:
        return await ctx.services.conversations.transfer_owner(ctx.user_id, data["conversation_id"], data["user_id"])
