"""Conversations: who may see what, direct and group lifecycle, membership, read markers.

Authorization lives here: every conversation-scoped operation, REST or socket, goes through
`require_member`, and a non-member gets 404 whether or not the conversation exists, so ids
cannot be probed."""

from functools import partial
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.errors import Forbidden, NotFound, ValidationFailed
from handlers.events import (
    CONVERSATION_CREATED,
    CONVERSATION_DELETED,
    CONVERSATION_NOTICE,
    CONVERSATION_UPDATED,
    MEMBER_ADDED,
    MEMBER_REMOVED,
    MEMBER_UPDATED,
    TYPING,
)
from handlers.lifecycle import Lifecycle
from handlers.lifecycle import CONVERSATION_CREATED as CREATED
from handlers.lifecycle import CONVERSATION_DELETED as DELETED
from handlers.lifecycle import CONVERSATION_OWNER_CHANGED as OWNER_CHANGED
from handlers.lifecycle import CONVERSATION_UPDATED as UPDATED
from handlers.lifecycle import MEMBER_ADDED as ADDED
from handlers.lifecycle import MEMBER_REMOVED as REMOVED
from handlers.lifecycle import MEMBER_ROLE_CHANGED as ROLE_CHANGED
from handlers.objects import conversation_vo, direct_peer_id, member_vo, notice_vo, role_name, user_vo
from handlers.push import Pusher, Socket
from handlers.services.message_views import message_view, message_vos
from settings import Settings
from storage import blocks as block_store
from storage.account_deletion import Handover
from storage import conversations as conversation_store
from storage import messages as message_store
from storage import notices as notice_store
from storage import users as user_store
from storage.kept_connection import KeptConnection
from storage.tables import CONVERSATION_DIRECT, CONVERSATION_GROUP, ROLE_ADMIN, ROLE_MEMBER, ROLE_OWNER
from storage.transactions import in_transaction

NO_SUCH_CONVERSATION = "no such conversation"
DIRECT_CACHE_MAX = 200_000


async def require_member(conn: AsyncConnection, conversation_id: int, user_id: int, *, lock: bool = False) -> Row:
    """The conversation with the caller's `role` and `last_read_seq`; 404 for non-members.
    `lock`: hold the conversation's row lock until the transaction ends (see storage)."""
    membership = await conversation_store.get_membership(conn, conversation_id, user_id, lock=lock)
    if membership is None:
        raise NotFound(NO_SUCH_CONVERSATION)
    return membership


async def require_not_blocked(conn: AsyncConnection, membership: Row, user_id: int) -> None:
    """A direct conversation's peer who blocked the caller refuses their writing in it: the
    plain 403 of anything not allowed, which does not tell that it is a block. One primary-key
    lookup, for direct conversations only."""
    peer_id = direct_peer_id(membership, user_id)
    if peer_id is not None and await block_store.is_blocked(conn, peer_id, user_id):
        raise Forbidden()


def _is_person(user: Row | None) -> bool:
    """A user one may start a direct conversation with: one that exists and was not deleted
    (a deleted account's row stays, as its messages name it)."""
    return user is not None and user.deleted_at is None


def _owner_changed(conversation_id: int, old_owner_id: int, new_owner_id: int, old_owner_role: int, actor_id: int | None) -> dict:
    """The payload of the `conversation.owner_changed` lifecycle event (PLUGINS.md §5)."""
    return {
        "conversation_id": conversation_id,
        "old_owner_id": old_owner_id,
        "new_owner_id": new_owner_id,
        "old_owner_role": role_name(old_owner_role),
        "actor_id": actor_id,
    }


class ConversationService:
    """Conversations and their members. A change of a group's members, roles or name holds the
    conversation's row while its notice's foreign keys wait to share the users' rows, where it
    can meet another transaction in a deadlock: those run through storage.transactions, which
    runs a transaction the database rolled back again instead of answering 503."""

    def __init__(self, db: AsyncEngine, settings: Settings, pusher: Pusher, lifecycle: Lifecycle | None = None) -> None:
        self._db = db
        self._settings = settings
        self._pusher = pusher
        self._lifecycle = lifecycle if lifecycle is not None else Lifecycle()
        # (lower user id, higher user id) → direct conversation id. A direct conversation is
        # never deleted and its two members never change, so an entry can never go stale.
        self._direct_ids: dict[tuple[int, int], int] = {}
        # Presence audiences are looked up by one task (server.tracker), one statement at a time.
        self._presence_reads = KeptConnection(db)

    async def close(self) -> None:
        await self._presence_reads.close()

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
            # Each is the other's peer: one who blocked the other shows offline to them.
            pair = {
                row.id: user_vo(row, self._pusher.is_online(row.id) and not row.blocked_peer)
                for row in await block_store.pair_seen_by_each_other(conn, conversation.direct_low_id, conversation.direct_high_id)
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

    def announce_created(self, views: dict[int, dict], by: int) -> None:
        """`conversation.created` to every member, and to the plugins once."""
        if not views:
            return
        self.push_views(views, CONVERSATION_CREATED, by)
        first = next(iter(views.values()))
        self._lifecycle.emit(CREATED, {"conversation_id": first["id"], "type": first["type"], "member_ids": sorted(views)})

    def push_views(self, views: dict[int, dict], event: str, by: int) -> None:
        """`event` to each member's sockets with the conversation as that member sees it, and
        `by`, who made the change (the answers to the caller carry no `by`)."""
        for user_id, vo in views.items():
            self._pusher.to_users([user_id], event, {**vo, "by": by})

    def push_notices(self, audience: list[int], notices: list[dict]) -> None:
        """`conversation.notice` for each notice stored with a change, after its other events."""
        for notice in notices:
            self._pusher.to_users(audience, CONVERSATION_NOTICE, notice)

    async def list_for(self, user_id: int, *, include_archived: bool = False) -> list[dict]:
        """The caller's conversations in three queries whatever their number: the unread
        counts come from the formula in storage, not from reading the messages. A peer who
        blocked the caller shows offline."""
        async with self._db.connect() as conn:
            rows = await conversation_store.list_for_user(conn, user_id, include_archived=include_archived)
            last_by_conversation = await message_store.last_messages(conn, [(row.id, row.last_seq) for row in rows if row.last_seq])
            last_vos = {vo["conversation_id"]: vo for vo in await message_vos(conn, list(last_by_conversation.values()))}
            peer_ids = [peer for peer in (direct_peer_id(row, user_id) for row in rows) if peer is not None]
            peers = {row.id: row for row in await block_store.users_seen_by(conn, user_id, peer_ids)} if peer_ids else {}
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
                    peer=user_vo(peer, self._pusher.is_online(peer.id) and not peer.blocked_viewer) if peer is not None else None,
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
            vo["members"] = await self._member_vos(conn, conversation_id, user_id)
        return vo

    async def _member_vos(self, conn: AsyncConnection, conversation_id: int, viewer_id: int) -> list[dict]:
        """MemberVOs (UserVO and role) of every member, by id, as `viewer_id` sees them: a
        member who blocked the viewer shows offline. Two statements whatever the size."""
        roles = await conversation_store.member_roles(conn, conversation_id)
        rows = await block_store.users_seen_by(conn, viewer_id, sorted(roles))
        return [member_vo(row, self._pusher.is_online(row.id) and not row.blocked_viewer, roles[row.id]) for row in sorted(rows, key=lambda row: row.id)]

    async def open_direct(self, user_id: int, peer_id: int) -> tuple[dict, bool]:
        """The direct conversation with `peer_id`, created when missing: (vo, created)."""
        if peer_id == user_id:
            raise ValidationFailed({"peer_id": ["a direct conversation needs another user"]})
        async def write(conn: AsyncConnection) -> tuple[dict[int, dict], bool]:
            if not _is_person(await user_store.get_user(conn, peer_id)):
                raise NotFound("no such user")
            if await block_store.is_blocked(conn, peer_id, user_id):
                raise Forbidden()
            conversation, created = await conversation_store.get_or_create_direct(conn, user_id, peer_id)
            return await self.views(conn, conversation.id), created

        views, created = await in_transaction(self._db, write, "a direct conversation's creation")
        if created:
            self.announce_created(views, user_id)
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
        async def write(conn: AsyncConnection) -> tuple[int, dict[int, dict]]:
            if not _is_person(await user_store.get_user(conn, peer_id)):
                raise NotFound("no such user")
            # A blocked user starts nothing (the writer refuses their messages in an existing one).
            if await block_store.is_blocked(conn, peer_id, user_id):
                raise Forbidden()
            conversation, created = await conversation_store.get_or_create_direct(conn, user_id, peer_id)
            return conversation.id, await self.views(conn, conversation.id) if created else {}

        conversation_id, views = await in_transaction(self._db, write, "a direct conversation's creation")
        self.announce_created(views, user_id)
        return self._remember_direct(pair, conversation_id)

    def _remember_direct(self, pair: tuple[int, int], conversation_id: int) -> int:
        if len(self._direct_ids) >= DIRECT_CACHE_MAX:
            self._direct_ids.clear()
        self._direct_ids[pair] = conversation_id
        return conversation_id

    async def create_group(self, owner_id: int, name: str, member_ids: list[int]) -> dict:
        wanted = sorted(set(member_ids) | {owner_id})
        if len(wanted) > self._settings.group_max_members:
            raise ValidationFailed({"member_ids": [f"a group has at most {self._settings.group_max_members} members"]})
        async def write(conn: AsyncConnection) -> tuple[Row, dict[int, dict]]:
            found = {row.id for row in await user_store.get_users(conn, wanted)}
            missing = [user_id for user_id in wanted if user_id not in found]
            if missing:
                raise ValidationFailed({"member_ids": [f"no such user: {', '.join(map(str, missing))}"]})
            conversation = await conversation_store.create_group(conn, owner_id=owner_id, name=name, member_ids=wanted)
            created = await notice_store.add_notice(conn, conversation.id, after_seq=0, kind=notice_store.CREATED, actor_id=owner_id, data={"name": name})
            return created, await self.views(conn, conversation.id)

        created, views = await in_transaction(self._db, write, "a group's creation")
        self.announce_created(views, owner_id)
        self.push_notices(list(views), [notice_vo(created)])
        return views[owner_id]

    async def update(self, user_id: int, conversation_id: int, changes: dict[str, Any]) -> dict:
        """Rename a group and/or set its recall or edit window or who may mention @all (owner only)."""
        async def write(conn: AsyncConnection):
            # A rename is told in history after the last message: locked like a send, so that
            # no message takes the next seq before the notice commits.
            renaming = "name" in changes
            conversation = await self._require_owner(conn, conversation_id, user_id, lock=renaming)
            await conversation_store.update_conversation(conn, conversation_id, **changes)
            notices = []
            if renaming and changes["name"] != conversation.name:
                renamed = await notice_store.add_notice(
                    conn, conversation_id, after_seq=conversation.last_seq, kind=notice_store.RENAMED, actor_id=user_id, data={"name": changes["name"]}
                )
                notices.append(notice_vo(renamed))
            views = await self.views(conn, conversation_id)
            return views, notices

        views, notices = await in_transaction(self._db, write, "a group's update")
        # Each member's own marker and unread count: the event is a whole ConversationVO that
        # a client can put in place of the one it holds.
        self.push_views(views, CONVERSATION_UPDATED, user_id)
        self.push_notices(list(views), notices)
        self._lifecycle.emit(UPDATED, {"conversation_id": conversation_id, "changes": dict(changes)})
        return views[user_id]

    async def update_settings(self, user_id: int, conversation_id: int, changes: dict[str, bool], *, origin: Socket | None = None) -> dict:
        """The caller's own mute, pin and archive of a conversation. The caller's other sockets
        hear `conversation.updated` (nobody else: these are nobody else's business); settings
        the caller has already are a retry, pushed to nobody."""
        async def write(conn: AsyncConnection) -> tuple[dict, bool]:
            membership = await require_member(conn, conversation_id, user_id)
            current = await conversation_store.member_settings(conn, conversation_id, user_id)
            values: dict[str, Any] = {key: changes[key] for key in ("muted", "pinned") if key in changes and changes[key] != bool(getattr(current, key))}
            archived = current.archived_seq is not None and membership.last_seq <= current.archived_seq
            if "archived" in changes and changes["archived"] != archived:
                values["archived_seq"] = membership.last_seq if changes["archived"] else None
            if values:
                await conversation_store.update_member_settings(conn, conversation_id, user_id, **values)
            return (await self.views(conn, conversation_id, [user_id]))[user_id], bool(values)

        vo, changed = await in_transaction(self._db, write, "a member's settings")
        if changed:
            self._pusher.to_users([user_id], CONVERSATION_UPDATED, {**vo, "by": user_id}, exclude=origin)
        return vo

    async def delete(self, user_id: int, conversation_id: int) -> None:
        async def write(conn: AsyncConnection) -> list[int]:
            await self._require_owner(conn, conversation_id, user_id)
            audience = await conversation_store.member_ids(conn, conversation_id)
            await notice_store.delete_for_conversation(conn, conversation_id)
            await conversation_store.delete_conversation(conn, conversation_id)
            return audience

        audience = await in_transaction(self._db, write, "a conversation's deletion")
        self._pusher.to_users(audience, CONVERSATION_DELETED, {"conversation_id": conversation_id, "by": user_id})
        self._lifecycle.emit(DELETED, {"conversation_id": conversation_id, "member_ids": sorted(audience)})

    async def member_ids_of(self, user_id: int, conversation_id: int) -> list[int]:
        """Member ids of a conversation `user_id` belongs to; 404 otherwise."""
        async with self._db.connect() as conn:
            await require_member(conn, conversation_id, user_id)
            return await conversation_store.member_ids(conn, conversation_id)

    async def members(self, user_id: int, conversation_id: int) -> list[dict]:
        async with self._db.connect() as conn:
            await require_member(conn, conversation_id, user_id)
            return await self._member_vos(conn, conversation_id, user_id)

    async def add_members(self, user_id: int, conversation_id: int, user_ids: list[int]) -> list[dict]:
        async def write(conn: AsyncConnection):
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
            notices = []
            if new_ids:
                await conversation_store.add_members(conn, conversation_id, new_ids, conversation.last_seq)
                for added in new_ids:
                    notice = await notice_store.add_notice(
                        conn, conversation_id, after_seq=conversation.last_seq, kind=notice_store.ADDED, actor_id=user_id, subject_id=added
                    )
                    notices.append(notice_vo(notice))
                views = await self.views(conn, conversation_id, new_ids)
            all_ids = sorted(current | set(new_ids))
            members = await self._member_vos(conn, conversation_id, user_id)
            return new_ids, all_ids, views, notices, members

        new_ids, all_ids, views, notices, members = await in_transaction(self._db, write, "an addition of members")
        for added in new_ids:
            self._pusher.to_users(all_ids, MEMBER_ADDED, {"conversation_id": conversation_id, "user_id": added, "by": user_id})
            self._lifecycle.emit(ADDED, {"conversation_id": conversation_id, "user_id": added})
        self.push_views(views, CONVERSATION_CREATED, user_id)
        self.push_notices(all_ids, notices)
        return members

    async def remove_member(self, user_id: int, conversation_id: int, removed_id: int) -> None:
        async def write(conn: AsyncConnection):
            # Locked like a send, so a message is either before the removal (and pushed to the
            # member) or after it (and not).
            membership = await require_member(conn, conversation_id, user_id, lock=True)
            if membership.type != CONVERSATION_GROUP:
                raise Forbidden("members of a direct conversation cannot be removed")
            if removed_id == user_id:
                if membership.role == ROLE_OWNER:
                    raise Forbidden("the owner cannot leave; delete the group instead")
            else:
                await self._require_may_remove(conn, membership, removed_id)
            audience = await conversation_store.member_ids(conn, conversation_id)
            if not await conversation_store.remove_member(conn, conversation_id, removed_id):
                raise NotFound("no such member")
            kind = notice_store.LEFT if removed_id == user_id else notice_store.REMOVED
            notice = await notice_store.add_notice(conn, conversation_id, after_seq=membership.last_seq, kind=kind, actor_id=user_id, subject_id=removed_id)
            return audience, notice

        audience, notice = await in_transaction(self._db, write, "a member's removal")
        self._pusher.to_users(audience, MEMBER_REMOVED, {"conversation_id": conversation_id, "user_id": removed_id, "by": user_id})
        # The removed member hears it too: the last thing it sees of the group.
        self.push_notices(audience, [notice_vo(notice)])
        self._lifecycle.emit(REMOVED, {"conversation_id": conversation_id, "user_id": removed_id})

    async def _require_may_remove(self, conn: AsyncConnection, membership: Row, removed_id: int) -> None:
        """The owner removes anyone; an admin removes members, not the owner nor another admin."""
        if membership.role not in (ROLE_OWNER, ROLE_ADMIN):
            raise Forbidden("only the owner or an admin can remove other members")
        removed_role = await conversation_store.member_role(conn, membership.id, removed_id)
        if removed_role is None:
            raise NotFound("no such member")
        if membership.role == ROLE_ADMIN and removed_role != ROLE_MEMBER:
            raise Forbidden("an admin cannot remove the owner or another admin")

    async def set_role(self, user_id: int, conversation_id: int, member_id: int, role: str) -> dict:
        """The owner makes a member an admin or an admin a member again: the member's MemberVO.
        The role it has already is a retry, pushed to nobody."""
        wanted = ROLE_ADMIN if role == "admin" else ROLE_MEMBER
        async def write(conn: AsyncConnection):
            # Locked, as a removal is, so a role never lands on someone removed meanwhile.
            conversation = await self._require_owner(conn, conversation_id, user_id, lock=True)
            current = await conversation_store.member_role(conn, conversation_id, member_id)
            if current is None:
                raise NotFound("no such member")
            if current == ROLE_OWNER:
                raise Forbidden("the owner's role changes only by handing the group over")
            audience, notice = [], None
            if current != wanted:
                await conversation_store.set_role(conn, conversation_id, member_id, wanted)
                audience = await conversation_store.member_ids(conn, conversation_id)
                notice = await notice_store.add_notice(
                    conn, conversation_id, after_seq=conversation.last_seq, kind=notice_store.ROLE, actor_id=user_id, subject_id=member_id, data={"role": role_name(wanted)}
                )
            (member,) = await block_store.users_seen_by(conn, user_id, [member_id])
            return current, audience, notice, member

        current, audience, notice, member = await in_transaction(self._db, write, "a role change")
        if current != wanted:
            event = {"conversation_id": conversation_id, "user_id": member_id, "role": role_name(wanted), "by": user_id}
            self._pusher.to_users(audience, MEMBER_UPDATED, event)
            self.push_notices(audience, [notice_vo(notice)])
            change = {"conversation_id": conversation_id, "user_id": member_id, "old_role": role_name(current), "new_role": role_name(wanted), "actor_id": user_id}
            self._lifecycle.emit(ROLE_CHANGED, change)
        return member_vo(member, self._pusher.is_online(member_id) and not member.blocked_viewer, wanted)

    async def transfer_owner(self, user_id: int, conversation_id: int, new_owner_id: int) -> dict:
        """The owner hands the group to another member and stays as an admin: the caller's
        ConversationVO. Every member hears `member.updated` for both and `conversation.updated`."""
        async def write(conn: AsyncConnection):
            conversation = await self._require_owner(conn, conversation_id, user_id, lock=True)
            if new_owner_id == user_id:
                raise ValidationFailed({"user_id": ["you are the owner already"]})
            if await conversation_store.member_role(conn, conversation_id, new_owner_id) is None:
                raise NotFound("no such member")
            await conversation_store.set_role(conn, conversation_id, new_owner_id, ROLE_OWNER)
            await conversation_store.set_role(conn, conversation_id, user_id, ROLE_ADMIN)
            await conversation_store.update_conversation(conn, conversation_id, owner_id=new_owner_id)
            notice = await notice_store.add_notice(conn, conversation_id, after_seq=conversation.last_seq, kind=notice_store.OWNER, actor_id=user_id, subject_id=new_owner_id)
            views = await self.views(conn, conversation_id)
            return views, notice

        views, notice = await in_transaction(self._db, write, "a handover of a group")
        audience = list(views)
        for member_id, role in ((new_owner_id, ROLE_OWNER), (user_id, ROLE_ADMIN)):
            event = {"conversation_id": conversation_id, "user_id": member_id, "role": role_name(role), "by": user_id}
            self._pusher.to_users(audience, MEMBER_UPDATED, event)
        self.push_views(views, CONVERSATION_UPDATED, user_id)
        self.push_notices(audience, [notice_vo(notice)])
        self._lifecycle.emit(UPDATED, {"conversation_id": conversation_id, "changes": {"owner_id": new_owner_id}})
        self._lifecycle.emit(OWNER_CHANGED, _owner_changed(conversation_id, user_id, new_owner_id, ROLE_ADMIN, actor_id=user_id))
        return views[user_id]

    async def announce_handovers(self, handovers: list[Handover], old_owner_id: int) -> None:
        """Tell the members of groups that passed to them from a deleted account, as a handover
        by the owner is told: `member.updated` for both, `conversation.updated`, the notice."""
        for conversation_id, new_owner_id, notice in handovers:
            async with self._db.connect() as conn:
                views = await self.views(conn, conversation_id)
            for member_id, role in ((new_owner_id, ROLE_OWNER), (old_owner_id, ROLE_MEMBER)):
                event = {"conversation_id": conversation_id, "user_id": member_id, "role": role_name(role), "by": old_owner_id}
                self._pusher.to_users(list(views), MEMBER_UPDATED, event)
            self.push_views(views, CONVERSATION_UPDATED, old_owner_id)
            self.push_notices(list(views), [notice_vo(notice)])
            self._lifecycle.emit(UPDATED, {"conversation_id": conversation_id, "changes": {"owner_id": new_owner_id}})
            # Nobody acted: the group passed on because its owner's account went.
            self._lifecycle.emit(OWNER_CHANGED, _owner_changed(conversation_id, old_owner_id, new_owner_id, ROLE_MEMBER, actor_id=None))

    async def presence_audiences(self, user_ids: list[int]) -> dict[int, list[int]]:
        """Whom to tell that each of `user_ids` came or went; a user with nobody is left out."""
        return await self._presence_reads.read(partial(conversation_store.presence_audiences, user_ids=user_ids))

    async def typing(self, user_id: int, conversation_id: int) -> None:
        async with self._db.connect() as conn:
            await require_member(conn, conversation_id, user_id)
            audience = await conversation_store.member_ids(conn, conversation_id)
            hidden_from = (await block_store.blocked_by(conn, [user_id])).get(user_id, set())
        hidden_from.add(user_id)
        self._pusher.to_users([uid for uid in audience if uid not in hidden_from], TYPING, {"conversation_id": conversation_id, "user_id": user_id})

    async def _require_owner(self, conn: AsyncConnection, conversation_id: int, user_id: int, *, lock: bool = False) -> Row:
        membership = await require_member(conn, conversation_id, user_id, lock=lock)
        if membership.type == CONVERSATION_DIRECT:
            raise Forbidden("a direct conversation has no owner")
        if membership.role != ROLE_OWNER:
            raise Forbidden("only the group owner may do this")
        return membership
