"""Lifecycle subscriber: a recalled message is unpinned, a deleted conversation's pins go."""

from handlers.api import CONVERSATION_DELETED, MESSAGE_RECALLED, LifecycleContext, Subscriber, require_api
from hubbub_example_plugin import store

require_api("1.1")

subscriber = Subscriber()


@subscriber.on(MESSAGE_RECALLED)
async def unpin_recalled(ctx: LifecycleContext, event: dict) -> None:
    async with ctx.db.begin() as conn:
        if await store.forget_message(conn, event["conversation_id"], event["message_id"]):
            ctx.logger.info("unpinned recalled message %s", event["message_id"])


@subscriber.on(CONVERSATION_DELETED)
async def forget_deleted(ctx: LifecycleContext, event: dict) -> None:
    async with ctx.db.begin() as conn:
        await store.forget_conversation(conn, event["conversation_id"])
