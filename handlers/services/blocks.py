"""Blocking: a user stops another from writing to them directly and from seeing their presence
and typing (the checks sit where those happen: `conversations`, `messaging`, `users`).

A block is, to the blocked user, the blocker going offline, and an unblock their coming back:
otherwise the blocked user's client would show the blocker as it last heard, online, for good,
since no presence event about the blocker reaches it any more."""

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.errors import NotFound, ValidationFailed
from handlers.events import PRESENCE
from handlers.objects import user_vo
from handlers.push import Pusher
from storage import blocks as block_store
from storage import conversations as conversation_store
from storage import users as user_store
from storage.clock import to_millis
from storage.transactions import in_transaction


class BlockService:
    def __init__(self, db: AsyncEngine, pusher: Pusher) -> None:
        self._db = db
        self._pusher = pusher

    async def block(self, user_id: int, target_id: int) -> None:
        """Idempotent; 404 for no such user, 422 for oneself."""
        if target_id == user_id:
            raise ValidationFailed({"id": ["you cannot block yourself"]})
        async def write(conn: AsyncConnection) -> bool:
            if await user_store.get_user(conn, target_id) is None:
                raise NotFound("no such user")
            return await block_store.block(conn, user_id, target_id) and await conversation_store.share_a_conversation(conn, user_id, target_id)

        if await in_transaction(self._db, write, "a block"):
            self._tell_presence(user_id, target_id, online=False)

    async def unblock(self, user_id: int, target_id: int) -> None:
        """Idempotent; 404 for no such user."""
        async def write(conn: AsyncConnection) -> bool:
            if await user_store.get_user(conn, target_id) is None:
                raise NotFound("no such user")
            return await block_store.unblock(conn, user_id, target_id) and await conversation_store.share_a_conversation(conn, user_id, target_id)

        if await in_transaction(self._db, write, "an unblock"):
            self._tell_presence(user_id, target_id, online=True)

    def _tell_presence(self, blocker_id: int, target_id: int, *, online: bool) -> None:
        """The `presence` event the target would have had from the blocker's coming or going
        (only while the blocker is online: an offline blocker is offline to everyone), with no
        last-seen time, as for any blocker (PROTOCOL §2 "Presence and blocks")."""
        if self._pusher.is_online(blocker_id):
            self._pusher.to_users([target_id], PRESENCE, {"user_id": blocker_id, "online": online, "last_seen": None})

    async def blocked(self, user_id: int) -> list[dict]:
        """BlockedUserVOs: UserVO and `blocked_at`, latest first; one who blocked the caller
        back shows offline."""
        async with self._db.connect() as conn:
            rows = await block_store.list_blocked(conn, user_id)
        return [{**user_vo(row, self._pusher.is_online(row.id) and not row.blocked_viewer), "blocked_at": to_millis(row.blocked_at)} for row in rows]
