"""The plugin's REST routes: a poll, and a conversation's polls, each with the caller's vote."""

from handlers.api import NotFound, PluginRequest, PluginRoutes, RequestContext, require_api
from hubbub_polls_plugin import store
from hubbub_polls_plugin.polls import PollView

require_api("1.1")

routes = PluginRoutes()


@routes.get("/messages/{message_id}", summary="The poll of a message, with the caller's vote", response=PollView, errors=(404,))
async def get_poll(ctx: RequestContext, request: PluginRequest) -> dict:
    message_id = request.path["message_id"]
    await ctx.services.messaging.visible_message(ctx.user_id, message_id)  # 404 unless the caller is a member
    async with ctx.db.connect() as conn:
        poll = await store.poll(conn, message_id, viewer=ctx.user_id)
    if poll is None:
        raise NotFound("no such poll")
    return poll


@routes.get("/conversations/{conversation_id}", summary="The polls of a conversation, oldest message first, with the caller's votes", response=PollView(many=True), errors=(404,))
async def list_polls(ctx: RequestContext, request: PluginRequest) -> list[dict]:
    conversation_id = request.path["conversation_id"]
    await ctx.services.conversations.get(ctx.user_id, conversation_id)  # 404 unless the caller is a member
    async with ctx.db.connect() as conn:
        return await store.of_conversation(conn, conversation_id, viewer=ctx.user_id)
