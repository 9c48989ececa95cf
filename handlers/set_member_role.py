"""`set_member_role`: the group owner makes a member an admin, or an admin a member again."""

from handlers.base import Context, Handler
from handlers.fields import id_field
from handlers.schemas import MemberRoleSchema


class SetMemberRoleSchema(MemberRoleSchema):
    conversation_id = id_field(required=True)
    user_id = id_field(required=True)


class SetMemberRoleHandler(Handler):
    type = "set_member_role"
    schema = SetMemberRoleSchema
    reply = "MemberVO"

    async def handle(self, ctx: Context, data: dict) -> dict:
        return await ctx.services.conversations.set_role(ctx.user_id, data["conversation_id"], data["user_id"], data["role"])
