"""`conversation_settings`: the caller's own mute, pin and archive of a conversation."""

from handlers.base import Context, Handler
from handlers.fields import id_field
from handlers.schemas import ConversationSettingsSchema


class ConversationSettingsFrameSchema(ConversationSettingsSchema):
    conversation_id = id_field(required=True)


class ConversationSettingsHandler(Handler):
    type = "conversation_settings"
    schema = ConversationSettingsFrameSchema
    reply = "ConversationVO"

    async def handle(self, ctx: Context, data: dict) -> dict:
        changes = {key: value for key, value in data.items() if key != "conversation_id"}
        return await ctx.services.conversations.update_settings(ctx.user_id, data["conversation_id"], changes, origin=ctx.socket)
