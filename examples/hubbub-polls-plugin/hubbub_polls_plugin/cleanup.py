"""Lifecycle subscriber: a recalled message's poll goes, and so do a deleted conversation's
polls, with their options and votes (the plugin's tables have no foreign keys to cascade)."""

from handlers.api import CONVERSATION_DELETED, MESSAGE_RECALLED, LifecycleContext, Subscriber, require_api
from hubbub_polls_plugin import store

require_api("1.1")

subscriber = Subscriber()


@subscriber.on(MESSAGE_RECALLED)
async def forget_recalled(ctx: LifecycleContext, event: dict) -> None:
    async with ctx.db.begin() as conn:
        if await store.forget_message(conn, event["message_id"]):
            ctx.logger.info("deleted the poll of recalled message %s", event["message_id"])


@subscriber.on(CONVERSATION_DELETED)
async def forget_deleted(ctx: LifecycleContext, event: dict) -> None:
    async with ctx.db.begin() as conn:
        if deleted := await store.forget_conversation(conn, event["conversation_id"]):
            ctx.logger.info("deleted %s polls of deleted conversation %s", deleted, event["conversation_id"])
