"""GET /api/plugins/pins/conversations/{conversation_id}: the pins of a conversation."""

from handlers.api import PluginRequest, PluginRoutes, RequestContext, require_api
from hubbub_example_plugin import store
from hubbub_example_plugin.pins import PinVO

require_api("1.1")

routes = PluginRoutes()


@routes.get("/conversations/{conversation_id}", summary="The pins of a conversation, oldest message first", response=PinVO(many=True), errors=(404,))
async def list_pins(ctx: RequestContext, request: PluginRequest) -> list[dict]:
    conversation_id = request.path["conversation_id"]
    await ctx.services.conversations.get(ctx.user_id, conversation_id)  # 404 unless the caller is a member
    async with ctx.db.connect() as conn:
        return await store.listed(conn, conversation_id)
