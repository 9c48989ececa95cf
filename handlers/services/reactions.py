"""Emoji reactions: the same rules for the socket handlers and the REST views. A reaction
change is a change to its message (a change seq, as an edit), so that a client that was away
learns of it with `changed_after`."""

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.errors import Forbidden, NotFound, ValidationFailed
from handlers.events import MESSAGE_REACTION
from handlers.push import Pusher, Socket
from handlers.services.conversations import require_not_blocked
from handlers.services.message_views import message_view
from settings import Settings
from storage import conversations as conversation_store
from storage import messages as message_store
from storage import reactions as reaction_store
from storage.clock import utc_now
from storage.tables import STATUS_RECALLED
from storage.transactions import in_transaction

NO_SUCH_MESSAGE = "no such message"


class ReactionService:
    def __init__(self, db: AsyncEngine, settings: Settings, pusher: Pusher) -> None:
        self._db = db
        self._settings = settings
        self._pusher = pusher

    async def add(self, user_id: int, message_id: int, emoji: str, *, origin: Socket | None = None) -> dict:
        """React with `emoji`; a reaction the caller already has is a retry (nothing changes)."""
        return await self._change(user_id, message_id, emoji, True, origin)

    async def remove(self, user_id: int, message_id: int, emoji: str, *, origin: Socket | None = None) -> dict:
        """Take a reaction back; one the caller does not have is a retry (nothing changes)."""
        return await self._change(user_id, message_id, emoji, False, origin)

    async def _change(self, user_id: int, message_id: int, emoji: str, added: bool, origin: Socket | None) -> dict:
        """Returns the MessageVO, with the caller's `me`; pushes `message.reaction` when
        something changed, to every socket of every member but `origin`."""
        async def write(conn: AsyncConnection) -> tuple[Row, dict, list[int] | None]:
            message = await _member_message_locked(conn, user_id, message_id)
            if added:
                if message.status == STATUS_RECALLED:
                    raise Forbidden("a recalled message takes no reactions")
                changed = await self._add(conn, message, user_id, emoji)
            else:
                # A recall took the message's reactions along: nothing left to remove.
                changed = await reaction_store.remove(conn, message_id, user_id, emoji)
            if not changed:
                return message, await message_view(conn, message, viewer_id=user_id), None
            change_seq = await message_store.record_change(conn, message.conversation_id, message_id)
            await message_store.set_change_seq(conn, message_id, change_seq)
            audience = await conversation_store.member_ids(conn, message.conversation_id)
            return message, await message_view(conn, message, viewer_id=user_id, change_seq=change_seq), audience

        message, view, audience = await in_transaction(self._db, write, "a reaction")
        if audience is None:
            return view  # nothing changed: a retry
        change_seq = view["change_seq"]
        event = {
            "conversation_id": message.conversation_id,
            "message_id": message_id,
            "user_id": user_id,
            "emoji": emoji,
            "added": added,
            "change_seq": change_seq,
            "reactions": [{key: value for key, value in reaction.items() if key != "me"} for reaction in view["reactions"]],
        }
        self._pusher.to_users(audience, MESSAGE_REACTION, event, exclude=origin)
        return view

    async def _add(self, conn: AsyncConnection, message: Row, user_id: int, emoji: str) -> bool:
        if await reaction_store.has(conn, message.id, user_id, emoji):
            return False
        emojis = await reaction_store.emojis_of(conn, message.id)
        limit = self._settings.message_max_reactions
        if emoji not in emojis and len(emojis) >= limit:
            raise ValidationFailed({"emoji": [f"a message takes at most {limit} different reactions"]})
        await reaction_store.add(conn, message.conversation_id, message.id, user_id, emoji, utc_now())
        return True


async def _member_message_locked(conn: AsyncConnection, user_id: int, message_id: int) -> Row:
    """A message of one of the caller's conversations (else 404 "no such message", as for an
    id that does not exist), holding the conversation's row lock and then the message's, the
    order a send, an edit and a recall take them in: reactions to one message serialize with
    each other and with its recall."""
    message = await message_store.get_message(conn, message_id)
    if message is None:
        raise NotFound(NO_SUCH_MESSAGE)
    membership = await conversation_store.get_membership(conn, message.conversation_id, user_id, lock=True)
    if membership is None:
        raise NotFound(NO_SUCH_MESSAGE)
    # A reaction is writing in the conversation: refused to the one its direct peer blocked.
    await require_not_blocked(conn, membership, user_id)
    return await message_store.get_message(conn, message_id, lock=True)
