"""Sending, reading, recalling and paging messages: the same rules for the socket handlers and
the REST views. Every push happens after the transaction that it reports has committed."""

from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from handlers.events import MESSAGE_EDITED, MESSAGE_READ, MESSAGE_RECALLED
from handlers.hooks import OutgoingMessage, PreSendHooks
from handlers.lifecycle import MESSAGE_EDITED as EDITED, MESSAGE_RECALLED as RECALLED, MESSAGE_STORED as STORED, Lifecycle
from handlers.objects import message_version_vo, user_vo
from handlers.push import Pusher, Socket
from handlers.schemas import HISTORY_DEFAULT_LIMIT
from handlers.services.conversations import ConversationService, require_member, require_not_blocked
from handlers.services.files import referenced_file_id
from handlers.services.message_views import message_view, message_vos
from handlers.services.message_writer import DuplicateClientId, MessageWriter
from handlers.services.notices import page_notices
from handlers.services.search_indexer import SearchIndexer
from handlers.services.read_receipts import add_read_counts
from settings import Settings
from storage import blocks as block_store
from storage import conversations as conversation_store
from storage import mentions as mention_store
from storage import messages as message_store
from storage import reactions as reaction_store
from storage.clock import to_millis, utc_now
from storage.messages import NewMessage
from storage.tables import CONVERSATION_DIRECT, CONVERSATION_GROUP, MSG_TEXT, ROLE_ADMIN, ROLE_OWNER, STATUS_RECALLED
from storage.transactions import in_transaction


class ForwardOf(NamedTuple):
    """What a forward keeps of its origin: who first wrote it, and the message forwarded."""

    original_sender_id: int
    message_id: int


class MessagingService:
    def __init__(
        self, db: AsyncEngine, settings: Settings, pusher: Pusher, conversations: ConversationService,
        hooks: PreSendHooks | None = None,
        lifecycle: Lifecycle | None = None,
        search_indexer: SearchIndexer | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._pusher = pusher
        self._conversations = conversations
        self._hooks = hooks if hooks is not None else PreSendHooks()
        self._writer = MessageWriter(db, pusher, search_indexer)
        self._lifecycle = lifecycle if lifecycle is not None else Lifecycle()

    async def send(
        self,
        sender_id: int,
        *,
        content: str,
        conversation_id: int | None = None,
        receiver_id: int | None = None,
        msg_type: int = MSG_TEXT,
        client_msg_id: str | None = None,
        reply_to: int | None = None,
        origin: Socket | None = None,
        forward: ForwardOf | None = None,
    ) -> tuple[dict, bool]:
        """Store a message and push `message.new`. Returns (MessageVO, created); created is
        False when this sender already sent this `client_msg_id` with the same content (and
        reply) to the same conversation, in which case nothing is stored or pushed again.
        `forward` is set by `forward` alone, never by a caller's request."""
        if len(content) > self._settings.message_max_chars:
            raise PayloadTooLarge(f"content is longer than {self._settings.message_max_chars} characters")
        if receiver_id is not None and receiver_id == sender_id:
            raise ValidationFailed({"receiver_id": ["a direct message needs another user"]})
        if conversation_id is not None and (self._hooks.hooks or reply_to is not None):
            # The writer checks membership (and a direct conversation's block) under the
            # conversation's lock, where a removal racing this send is seen. Checked here as well
            # only when something would see the message first: the hooks, or the quoted message
            # (whose conversation a stranger must not learn). A plain send costs no round trip.
            async with self._db.connect() as conn:
                await require_member(conn, conversation_id, sender_id)
        if self._hooks.hooks:
            content = await self._run_hooks(sender_id, conversation_id, receiver_id, content, msg_type)
        # A resent client_msg_id is not looked up first: that would cost every send a round trip
        # for the rare resend. The unique key refuses the duplicate at commit instead, and the
        # message it names is answered with (DuplicateClientId below).
        if receiver_id is not None:
            conversation_id = await self._conversations.ensure_direct(sender_id, receiver_id)
        if reply_to is not None:
            await self._require_quotable(conversation_id, reply_to)
        new = NewMessage(conversation_id, sender_id, None, content, msg_type, client_msg_id, None, reply_to)
        if forward is not None:
            new = new._replace(forwarded_sender_id=forward.original_sender_id, forwarded_message_id=forward.message_id)
        try:
            stored, created = await self._writer.write(new, origin)
        except DuplicateClientId:
            repeated = await self._repeated(sender_id, client_msg_id, conversation_id, None, content, msg_type, reply_to, forward)
            if repeated is None:
                raise
            return repeated, False
        # Stored, pushed and the sender's reply on its way: only now do plugins hear of it.
        self._lifecycle.emit(STORED, stored)
        return stored, created

    async def forward(
        self,
        sender_id: int,
        message_id: int,
        *,
        conversation_id: int | None = None,
        receiver_id: int | None = None,
        client_msg_id: str | None = None,
        origin: Socket | None = None,
    ) -> tuple[dict, bool]:
        """Send a copy of a message the sender may read (its content as it is now, text or
        file) to a conversation or user, as `send` does, marked with who first wrote it. A
        forward of a forward keeps the first writer."""
        async with self._db.connect() as conn:
            source = await message_store.get_message(conn, message_id)
            if source is None or await conversation_store.get_membership(conn, source.conversation_id, sender_id) is None:
                raise NotFound("no such message")
        if source.status == STATUS_RECALLED:
            raise Forbidden("a recalled message cannot be forwarded")
        first_writer = source.forwarded_sender_id if source.forwarded_sender_id is not None else source.sender_id
        return await self.send(
            sender_id,
            content=source.content,
            conversation_id=conversation_id,
            receiver_id=receiver_id,
            msg_type=source.msg_type,
            client_msg_id=client_msg_id,
            origin=origin,
            forward=ForwardOf(first_writer, source.id),
        )

    async def close(self) -> None:
        await self._writer.close()

    async def _run_hooks(self, sender_id: int, conversation_id: int | None, receiver_id: int | None, content: str, msg_type: int) -> str:
        """Hooks see only messages the sender may send (checked before), and their result obeys
        the same limit."""
        outgoing = await self._hooks.apply(OutgoingMessage(sender_id, conversation_id, receiver_id, content, msg_type))
        if len(outgoing.content) > self._settings.message_max_chars:
            raise PayloadTooLarge(f"content is longer than {self._settings.message_max_chars} characters")
        return outgoing.content

    async def _require_quotable(self, conversation_id: int, message_id: int) -> None:
        """A reply quotes a message of its own conversation (the sender is a member: checked)."""
        async with self._db.connect() as conn:
            quoted = await message_store.get_message(conn, message_id)
        if quoted is None or quoted.conversation_id != conversation_id:
            raise ValidationFailed({"reply_to": ["no such message in this conversation"]})

    async def _repeated(
        self,
        sender_id: int,
        client_msg_id: str,
        conversation_id: int | None,
        receiver_id: int | None,
        content: str,
        msg_type: int,
        reply_to: int | None,
        forward: ForwardOf | None,
    ) -> dict | None:
        """The message this client id already names, or None; 409 when it names another one
        (a forward of another message, or a forward where a plain send was made, is another)."""
        async with self._db.connect() as conn:
            original = await message_store.find_by_client_msg_id(conn, sender_id, client_msg_id)
            if original is None:
                return None
            same_target = original.conversation_id == conversation_id if conversation_id is not None else original.receiver_id == receiver_id
            forwarded = forward.message_id if forward is not None else None
            if not same_target or original.reply_to_id != reply_to or original.forwarded_message_id != forwarded or not _same_payload(original, content, msg_type):
                raise Conflict("client_msg_id already used for another message")
            return await message_view(conn, original)

    async def mark_read(self, user_id: int, conversation_id: int, seq: int, *, origin: Socket | None = None) -> dict:
        async def write(conn: AsyncConnection) -> tuple[int, int, list[int]]:
            membership = await require_member(conn, conversation_id, user_id)
            before = membership.last_read_seq
            marker = await conversation_store.advance_read_marker(conn, conversation_id, user_id, min(seq, membership.last_seq))
            if marker > before and membership.type == CONVERSATION_DIRECT:
                await message_store.mark_direct_read(conn, conversation_id, user_id, marker)
            unread = await conversation_store.unread_count(conn, conversation_id, user_id)
            audience = await conversation_store.member_ids(conn, conversation_id) if marker > before else []
            return marker, unread, audience

        # A send of the caller's other device marks the same messages read and moves the same
        # marker, in the other order: InnoDB may roll this back for it.
        marker, unread, audience = await in_transaction(self._db, write, "a read marker's advance")
        if audience:
            self._pusher.to_users(audience, MESSAGE_READ, {"conversation_id": conversation_id, "user_id": user_id, "last_read_seq": marker}, exclude=origin)
        return {"conversation_id": conversation_id, "last_read_seq": marker, "unread_count": unread}

    async def recall(self, user_id: int, message_id: int) -> dict:
        """The sender recalls its message within the recall window; a group's owner or admin
        recalls another member's at any time (a moderation recall, which names them)."""
        async def write(conn: AsyncConnection) -> tuple[Row, dict, list[int] | None]:
            message, membership = await self._message_locked(conn, user_id, message_id)
            moderated = message.sender_id != user_id
            if moderated:
                await _require_moderator(conn, message, membership)
            if message.status == STATUS_RECALLED:
                return message, await message_view(conn, message), None
            if not moderated:
                window = self._conversations.recall_window(membership)
                if utc_now() - message.created_at > timedelta(seconds=window):
                    raise Forbidden(f"the recall window of {window} seconds is over")
            recalled_by = user_id if moderated else None
            change_seq = await message_store.record_change(conn, message.conversation_id, message_id)
            await message_store.mark_recalled(conn, message_id, change_seq, recalled_by)
            await reaction_store.delete_for_message(conn, message_id)
            await mention_store.delete_for_message(conn, message_id)
            audience = await conversation_store.member_ids(conn, message.conversation_id)
            return message, await message_view(conn, message, status=STATUS_RECALLED, change_seq=change_seq, recalled_by=recalled_by), audience

        message, recalled, audience = await in_transaction(self._db, write, "a recall")
        if audience is None:
            return recalled  # recalled already: a retry
        change_seq, recalled_by = recalled["change_seq"], recalled["recalled_by"]
        event = {
            "conversation_id": message.conversation_id,
            "message_id": message_id,
            "seq": message.seq,
            "change_seq": change_seq,
            "recalled_by": recalled_by,
        }
        self._pusher.to_users(audience, MESSAGE_RECALLED, event)
        # The message's sender: with a moderation recall the caller is the moderator (recalled_by).
        self._lifecycle.emit(RECALLED, {**event, "sender_id": message.sender_id})
        return recalled

    async def edit(self, user_id: int, message_id: int, content: str, *, origin: Socket | None = None) -> dict:
        """Replace the content of one's own text message within the edit window, keeping the
        old content as a version. The same content again changes nothing (a retry)."""
        if len(content) > self._settings.message_max_chars:
            raise PayloadTooLarge(f"content is longer than {self._settings.message_max_chars} characters")
        # Refused before the hooks see it: hooks see only what the sender may send.
        async with self._db.connect() as conn:
            message, membership = await self._own_message(conn, user_id, message_id, "edit")
            self._require_editable(message, membership)
            await require_not_blocked(conn, membership, user_id)
        if self._hooks.hooks:
            content = await self._run_hooks(user_id, message.conversation_id, None, content, MSG_TEXT)
        async def write(conn: AsyncConnection) -> tuple[dict, list[int] | None]:
            message, membership = await self._own_message_locked(conn, user_id, message_id, "edit")
            self._require_editable(message, membership)
            # Checked again under the lock: a block made while the hooks ran still refuses.
            await require_not_blocked(conn, membership, user_id)
            if message.content == content:
                return await message_view(conn, message), None
            change_seq = await message_store.record_change(conn, message.conversation_id, message_id)
            now = utc_now()
            await message_store.edit_content(conn, message, content, change_seq, now)
            audience = await conversation_store.member_ids(conn, message.conversation_id)
            return await message_view(conn, message, content=content, edited_at=now, change_seq=change_seq), audience

        edited, audience = await in_transaction(self._db, write, "an edit")
        if audience is None:
            return edited  # the same content again: a retry
        self._pusher.to_users(audience, MESSAGE_EDITED, edited, exclude=origin)
        self._lifecycle.emit(EDITED, edited)
        return edited

    async def versions(self, user_id: int, conversation_id: int, message_id: int) -> list[dict]:
        """The versions of a message, oldest first, the current one last; none once recalled."""
        async with self._db.connect() as conn:
            await require_member(conn, conversation_id, user_id)
            message = await message_store.get_message(conn, message_id)
            if message is None or message.conversation_id != conversation_id:
                raise NotFound("no such message")
            if message.status == STATUS_RECALLED:
                return []
            earlier = await message_store.versions(conn, message_id)
        current = {"version": len(earlier) + 1, "content": message.content, "created_at": to_millis(message.edited_at or message.created_at)}
        return [*(message_version_vo(row) for row in earlier), current]

    def _require_editable(self, message: Row, membership: Row) -> None:
        if message.msg_type != MSG_TEXT:
            raise Forbidden("only a text message can be edited")
        if message.status == STATUS_RECALLED:
            raise Forbidden("a recalled message cannot be edited")
        window = self._conversations.edit_window(membership)
        if utc_now() - message.created_at > timedelta(seconds=window):
            raise Forbidden(f"the edit window of {window} seconds is over")

    async def _own_message(self, conn: AsyncConnection, user_id: int, message_id: int, action: str) -> tuple[Row, Row]:
        """The caller's own message and its membership of the conversation; 404 when the
        message is not in one of the caller's conversations, 403 when someone else sent it."""
        message = await message_store.get_message(conn, message_id)
        if message is None:
            raise NotFound("no such message")
        membership = await conversation_store.get_membership(conn, message.conversation_id, user_id)
        if membership is None:
            raise NotFound("no such message")
        if message.sender_id != user_id:
            raise Forbidden(f"only the sender can {action} a message")
        return message, membership

    async def _own_message_locked(self, conn: AsyncConnection, user_id: int, message_id: int, action: str) -> tuple[Row, Row]:
        """As `_own_message`, holding the locks of `_message_locked`."""
        message, membership = await self._message_locked(conn, user_id, message_id)
        if message.sender_id != user_id:
            raise Forbidden(f"only the sender can {action} a message")
        return message, membership

    async def _message_locked(self, conn: AsyncConnection, user_id: int, message_id: int) -> tuple[Row, Row]:
        """A message of one of the caller's conversations and the caller's membership, holding
        the conversation's row lock and then the message's (the order a send takes them in), so
        that edits and recalls of one message serialize; 404 as `_own_message`."""
        message = await message_store.get_message(conn, message_id)
        if message is None:
            raise NotFound("no such message")
        membership = await conversation_store.get_membership(conn, message.conversation_id, user_id, lock=True)
        if membership is None:
            raise NotFound("no such message")
        return await message_store.get_message(conn, message_id, lock=True), membership

    async def visible_message(self, user_id: int, message_id: int) -> dict:
        async with self._db.connect() as conn:
            message = await message_store.get_message(conn, message_id)
            if message is None or await conversation_store.get_membership(conn, message.conversation_id, user_id) is None:
                raise NotFound("no such message")
            return await message_view(conn, message)

    async def history(
        self,
        user_id: int,
        conversation_id: int,
        *,
        before: int | None,
        after: int | None,
        limit: int | None,
        changed_after: int | None = None,
        with_notices: bool = False,
    ) -> list[dict] | dict:
        """A page of MessageVOs; with `with_notices`, {messages, notices}: the group notices
        among them too (changes to messages carry none)."""
        limit = min(HISTORY_DEFAULT_LIMIT, self._settings.history_max_limit) if limit is None else limit
        errors = {}
        if limit > self._settings.history_max_limit:
            errors["limit"] = [f"must be at most {self._settings.history_max_limit}"]
        if sum(cursor is not None for cursor in (before, after, changed_after)) > 1:
            errors["before"] = ["give one of before, after and changed_after"]
        if errors:
            raise ValidationFailed(errors)
        async with self._db.connect() as conn:
            membership = await require_member(conn, conversation_id, user_id)
            if changed_after is not None:
                rows = await message_store.changed_page(conn, conversation_id, changed_after=changed_after, limit=limit)
            else:
                rows = await message_store.page(conn, conversation_id, before=before, after=after, limit=limit)
            vos = await message_vos(conn, rows, viewer_id=user_id)
            if membership.type == CONVERSATION_GROUP:
                await add_read_counts(conn, vos, conversation_id, user_id)
            if not with_notices:
                return vos
            notices = [] if changed_after is not None else await page_notices(conn, conversation_id, rows, membership.last_seq, after=after, before=before)
            return {"messages": vos, "notices": notices}

    async def readers(self, user_id: int, conversation_id: int, message_id: int) -> list[dict]:
        """The members who have read a message (their read marker is at or past it), its sender
        left out, as UserVOs by id; one who blocked the caller shows offline."""
        async with self._db.connect() as conn:
            await require_member(conn, conversation_id, user_id)
            message = await message_store.get_message(conn, message_id)
            if message is None or message.conversation_id != conversation_id:
                raise NotFound("no such message")
            reader_ids = await conversation_store.readers(conn, conversation_id, message.seq, message.sender_id, message.created_at)
            rows = await block_store.users_seen_by(conn, user_id, reader_ids) if reader_ids else []
        return [user_vo(row, self._pusher.is_online(row.id) and not row.blocked_viewer) for row in rows]


async def _require_moderator(conn: AsyncConnection, message: Row, membership: Row) -> None:
    """Someone else's message is recalled only by a group's owner (anyone's) or admin (a plain
    member's, or one of a member who has left)."""
    if membership.type != CONVERSATION_GROUP or membership.role not in (ROLE_OWNER, ROLE_ADMIN):
        raise Forbidden("only the sender can recall a message")
    if membership.role == ROLE_ADMIN:
        sender_role = await conversation_store.member_role(conn, message.conversation_id, message.sender_id)
        if sender_role in (ROLE_OWNER, ROLE_ADMIN):
            raise Forbidden("an admin cannot recall a message of the owner or another admin")


def _same_payload(original, content: str, msg_type: int) -> bool:
    """A file message is the same when it carries the same file, however the client wrote the reference."""
    if original.msg_type != msg_type:
        return False
    if msg_type == MSG_TEXT:
        return original.content == content
    return original.file_id == referenced_file_id(content)
