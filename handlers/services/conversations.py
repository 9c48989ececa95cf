"""Conversations: who may see what, direct and group lifecycle, membership, read markers.

Authorization lives here: every conversation-scoped operation, REST or socket, goes through
`require_member`, and a non-member gets 404 whether or not the conversation exists, so ids
cannot be probed."""

from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.errors import Forbidden, NotFound, ValidationFailed
from handlers.events import CONVERSATION_CREATED, CONVERSATION_DELETED, CONVERSATION_UPDATED, MEMBER_ADDED, MEMBER_REMOVED, TYPING
from handlers.objects import conversation_vo, direct_peer_id, user_vo
from handlers.push import Pusher, Socket
from handlers.services.message_views import message_view, message_vos
from settings import Settings
from storage import conversations as conversation_store
from storage import messages as message_store
from storage import users as user_store
from storage.tables import CONVERSATION_DIRECT, CONVERSATION_GROUP, ROLE_OWNER

NO_SUCH_CONVERSATION = "no such conversation"
DIRECT_CACHE_MAX = 200_000


async def require_member(conn: AsyncConnection, conversation_id: int, user_id: int, *, lock: bool = False) -> Row:
    """The conversation with the caller's `role` and `last_read_seq`; 404 for non-members.
    `lock`: hold the conversation's row lock until the transaction ends (see storage)."""
    membership = await conversation_store.get_membership(conn, conversation_id, user_id, lock=lock)
    if membership is None:
        raise NotFound(NO_SUCH_CONVERSATION)
    return membership


class ConversationService:
    def __init__(self, db: AsyncEngine, settings: Settings, pusher: Pusher) -> None:
        self._db = db
        self._settings = settings
        self._pusher = pusher
        # (lower user id, higher user id) → direct conversation id. A direct conversation is
        # never deleted and its two members never change, so an entry can never go stale.
        self._direct_ids: dict[tuple[int, int], int] = {}

    def recall_window(self, conversation: Any) -> int:
        """The conversation's own window when its owner set one (0 switches recall off)."""
        own = conversation.recall_window_seconds
        return self._settings.recall_window_seconds if own is None else own

    def edit_window(self, conversation: Any) -> int:
        """The conversation's own window when its owner set one (0 switches editing off)."""
        own = conversation.edit_window_seconds
        return self._settings.edit_window_seconds if own is None else own

    async def views(self, conn: AsyncConnection, conversation_id: int, user_ids: list[int] | None = None) -> dict[int, dict]:
        """ConversationVO of one conversation as each member sees it (all members, or those of
        `user_ids` who are members), by user id. A fixed number of queries whatever the size."""
        rows = await conversation_store.member_views(conn, conversation_id, user_ids)
        if not rows:
            return {}
        conversation = rows[0]
        last = await message_store.last_message(conn, conversation_id, conversation.last_seq) if conversation.last_seq else None
        last_vo = await message_view(conn, last) if last is not None else None
        pair: dict[int, dict] = {}
        if conversation.type == CONVERSATION_DIRECT:
            pair = {
                row.id: user_vo(row, self._pusher.is_online(row.id))
                for row in await user_store.get_users(conn, [conversation.direct_low_id, conversation.direct_high_id])
            }
        return {
            row.member_id: conversation_vo(
                row,
                last_read_seq=row.last_read_seq,
                unread_count=row.unread_count,
                mention_count=row.mention_count,
                last_message=last_vo,
                peer=pair.get(direct_peer_id(row, row.member_id)),
                recall_window_seconds=self.recall_window(row),
                edit_window_seconds=self.edit_window(row),
            )
            for row in rows
        }

    def push_views(self, views: dict[int, dict], event: str) -> None:
        """`event` to each member's sockets with the conversation as that member sees it."""
        for user_id, vo in views.items():
            self._pusher.to_users([user_id], event, vo)

    async def list_for(self, user_id: int, *, include_archived: bool = False) -> list[dict]:
        """The caller's conversations in three queries whatever their number: the unread
        counts come from the formula in storage, not from reading the messages."""
        async with self._db.connect() as conn:
            rows = await conversation_store.list_for_user(conn, user_id, include_archived=include_archived)
            last_by_conversation = await message_store.last_messages(conn, [(row.id, row.last_seq) for row in rows if row.last_seq])
            last_vos = {vo["conversation_id"]: vo for vo in await message_vos(conn, list(last_by_conversation.values()))}
            peer_ids = [peer for peer in (direct_peer_id(row, user_id) for row in rows) if peer is not None]
            peers = {row.id: row for row in await user_store.get_users(conn, peer_ids)} if peer_ids else {}
        result = []
        for row in rows:
            peer = peers.get(direct_peer_id(row, user_id))
            result.append(
                conversation_vo(
                    row,
                    last_read_seq=row.last_read_seq,
                    unread_count=row.unread_count,
                    mention_count=row.mention_count,
                    last_message=last_vos.get(row.id),
                    peer=user_vo(peer, self._pusher.is_online(peer.id)) if peer is not None else None,
                    recall_window_seconds=self.recall_window(row),
                    edit_window_seconds=self.edit_window(row),
                )
            )
        return result

    async def get(self, user_id: int, conversation_id: int) -> dict:
        async with self._db.connect() as conn:
            await require_member(conn, conversation_id, user_id)
            vo = (await self.views(conn, conversation_id, [user_id])).get(user_id)
            if vo is None:  # removed in between
                raise NotFound(NO_SUCH_CONVERSATION)
            member_rows = await user_store.get_users(conn, await conversation_store.member_ids(conn, conversation_id))
        vo["members"] = [user_vo(row, self._pusher.is_online(row.id)) for row in member_rows]
        return vo

    async def open_direct(self, user_id: int, peer_id: int) -> tuple[dict, bool]:
        """The direct conversation with `peer_id`, created when missing: (vo, created)."""
        if peer_id == user_id:
            raise ValidationFailed({"peer_id": ["a direct conversation needs another user"]})
        async with self._db.begin() as conn:
            if await user_store.get_user(conn, peer_id) is None:
                raise NotFound("no such user")
            conversation, created = await conversation_store.get_or_create_direct(conn, user_id, peer_id)
            views = await self.views(conn, conversation.id)
        if created:
            self.push_views(views, CONVERSATION_CREATED)
        return views[user_id], created

    async def ensure_direct(self, user_id: int, peer_id: int) -> int:
        """The id of the direct conversation with `peer_id`, created (and announced) when missing.
        On the send path: no query once this process has seen the pair."""
        pair = (min(user_id, peer_id), max(user_id, peer_id))
        known = self._direct_ids.get(pair)
        if known is not None:
            return known
        async with self._db.connect() as conn:
            existing = await conversation_store.find_direct(conn, user_id, peer_id)
        if existing is not None:
            return self._remember_direct(pair, existing.id)
        async with self._db.begin() as conn:
            if await user_store.get_user(conn, peer_id) is None:
                raise NotFound("no such user")
            conversation, created = await conversation_store.get_or_create_direct(conn, user_id, peer_id)
            views = await self.views(conn, conversation.id) if created else {}
        self.push_views(views, CONVERSATION_CREATED)
        return self._remember_direct(pair, conversation.id)

    def _remember_direct(self, pair: tuple[int, int], conversation_id: int) -> int:
        if len(self._direct_ids) >= DIRECT_CACHE_MAX:
            self._direct_ids.clear()
        self._direct_ids[pair] = conversation_id
        return conversation_id

    async def create_group(self, owner_id: int, name: str, member_ids: list[int]) -> dict:
        wanted = sorted(set(member_ids) | {owner_id})
        if len(wanted) > self._settings.group_max_members:
            raise ValidationFailed({"member_ids": [f"a group has at most {self._settings.group_max_members} members"]})
        async with self._db.begin() as conn:
            found = {row.id for row in await user_store.get_users(conn, wanted)}
            missing = [user_id for user_id in wanted if user_id not in found]
            if missing:
                raise ValidationFailed({"member_ids": [f"no such user: {', '.join(map(str, missing))}"]})
            conversation = await conversation_store.create_group(conn, owner_id=owner_id, name=name, member_ids=wanted)
            views = await self.views(conn, conversation.id)
        self.push_views(views, CONVERSATION_CREATED)
        return views[owner_id]

    async def update(self, user_id: int, conversation_id: int, changes: dict[str, Any]) -> dict:
        """Rename a group and/or set its recall or edit window or who may mention @all (owner only)."""
        async with self._db.begin() as conn:
            await self._require_owner(conn, conversation_id, user_id)
            await conversation_store.update_conversation(conn, conversation_id, **changes)
            views = await self.views(conn, conversation_id)
        # Each member's own marker and unread count: the event is a whole ConversationVO that
        # a client can put in place of the one it holds.
        self.push_views(views, CONVERSATION_UPDATED)
        return views[user_id]

    async def update_settings(self, user_id: int, conversation_id: int, changes: dict[str, bool], *, origin: Socket | None = None) -> dict:
        """The caller's own mute, pin and archive of a conversation. The caller's other sockets
        hear `conversation.updated` (nobody else: these are nobody else's business); settings
        the caller has already are a retry, pushed to nobody."""
        async with self._db.begin() as conn:
            membership = await require_member(conn, conversation_id, user_id)
            current = await conversation_store.member_settings(conn, conversation_id, user_id)
            values: dict[str, Any] = {key: changes[key] for key in ("muted", "pinned") if key in changes and changes[key] != bool(getattr(current, key))}
            archived = current.archived_seq is not None and membership.last_seq <= current.archived_seq
            if "archived" in changes and changes["archived"] != archived:
                values["archived_seq"] = membership.last_seq if changes["archived"] else None
            if values:
                await conversation_store.update_member_settings(conn, conversation_id, user_id, **values)
            vo = (await self.views(conn, conversation_id, [user_id]))[user_id]
        if values:
            self._pusher.to_users([user_id], CONVERSATION_UPDATED, vo, exclude=origin)
        return vo

    async def delete(self, user_id: int, conversation_id: int) -> None:
        async with self._db.begin() as conn:
            await self._require_owner(conn, conversation_id, user_id)
            audience = await conversation_store.member_ids(conn, conversation_id)
            await conversation_store.delete_conversation(conn, conversation_id)
        self._pusher.to_users(audience, CONVERSATION_DELETED, {"conversation_id": conversation_id})

    async def member_ids_of(self, user_id: int, conversation_id: int) -> list[int]:
        """Member ids of a conversation `user_id` belongs to; 404 otherwise."""
        async with self._db.connect() as conn:
            await require_member(conn, conversation_id, user_id)
            return await conversation_store.member_ids(conn, conversation_id)

    async def members(self, user_id: int, conversation_id: int) -> list[dict]:
        async with self._db.connect() as conn:
            await require_member(conn, conversation_id, user_id)
            rows = await user_store.get_users(conn, await conversation_store.member_ids(conn, conversation_id))
        return [user_vo(row, self._pusher.is_online(row.id)) for row in rows]

    async def add_members(self, user_id: int, conversation_id: int, user_ids: list[int]) -> list[dict]:
        async with self._db.begin() as conn:
            # Locked so no message slips between reading last_seq and the new members'
            # markers starting there.
            conversation = await self._require_owner(conn, conversation_id, user_id, lock=True)
            current = set(await conversation_store.member_ids(conn, conversation_id))
            new_ids = sorted(set(user_ids) - current)
            found = {row.id for row in await user_store.get_users(conn, new_ids)} if new_ids else set()
            missing = [uid for uid in new_ids if uid not in found]
            if missing:
                raise ValidationFailed({"user_ids": [f"no such user: {', '.join(map(str, missing))}"]})
            if len(current) + len(new_ids) > self._settings.group_max_members:
                raise ValidationFailed({"user_ids": [f"a group has at most {self._settings.group_max_members} members"]})
            views: dict[int, dict] = {}
            if new_ids:
                await conversation_store.add_members(conn, conversation_id, new_ids, conversation.last_seq)
                views = await self.views(conn, conversation_id, new_ids)
            all_ids = sorted(current | set(new_ids))
            rows = await user_store.get_users(conn, all_ids)
        for added in new_ids:
            self._pusher.to_users(all_ids, MEMBER_ADDED, {"conversation_id": conversation_id, "user_id": added})
        self.push_views(views, CONVERSATION_CREATED)
        return [user_vo(row, self._pusher.is_online(row.id)) for row in rows]

    async def remove_member(self, user_id: int, conversation_id: int, removed_id: int) -> None:
        async with self._db.begin() as conn:
            # Locked like a send, so a message is either before the removal (and pushed to the
            # member) or after it (and not).
            membership = await require_member(conn, conversation_id, user_id, lock=True)
            if membership.type != CONVERSATION_GROUP:
                raise Forbidden("members of a direct conversation cannot be removed")
            if removed_id != user_id and membership.role != ROLE_OWNER:
                raise Forbidden("only the owner can remove other members")
            if removed_id == membership.owner_id and removed_id == user_id:
                raise Forbidden("the owner cannot leave; delete the group instead")
            audience = await conversation_store.member_ids(conn, conversation_id)
            if not await conversation_store.remove_member(conn, conversation_id, removed_id):
                raise NotFound("no such member")
        self._pusher.to_users(audience, MEMBER_REMOVED, {"conversation_id": conversation_id, "user_id": removed_id})

    async def presence_audience(self, user_id: int) -> list[int]:
        async with self._db.connect() as conn:
            return await conversation_store.partners_of(conn, user_id)

    async def typing(self, user_id: int, conversation_id: int) -> None:
        async with self._db.connect() as conn:
            await require_member(conn, conversation_id, user_id)
            audience = await conversation_store.member_ids(conn, conversation_id)
        self._pusher.to_users([uid for uid in audience if uid != user_id], TYPING, {"conversation_id": conversation_id, "user_id": user_id})

    async def _require_owner(self, conn: AsyncConnection, conversation_id: int, user_id: int, *, lock: bool = False) -> Row:
        membership = await require_member(conn, conversation_id, user_id, lock=lock)
        if membership.type == CONVERSATION_DIRECT:
            raise Forbidden("a direct conversation has no owner")
        if membership.role != ROLE_OWNER:
            raise Forbidden("only the group owner may do this")
        return membership
