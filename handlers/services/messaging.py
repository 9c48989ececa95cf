"""Sending, reading, recalling and paging messages: the same rules for the socket handlers and
the REST views. Every push happens after the transaction that it reports has committed."""

from datetime import timedelta

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from handlers.errors import Conflict, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from handlers.events import MESSAGE_EDITED, MESSAGE_READ, MESSAGE_RECALLED
from handlers.hooks import OutgoingMessage, PreSendHooks
from handlers.objects import message_version_vo
from handlers.push import Pusher, Socket
from handlers.schemas import HISTORY_DEFAULT_LIMIT
from handlers.services.conversations import ConversationService, require_member
from handlers.services.files import referenced_file_id
from handlers.services.message_views import message_view, message_vos
from handlers.services.message_writer import DuplicateClientId, MessageWriter
from settings import Settings
from storage import conversations as conversation_store
from storage import mentions as mention_store
from storage import messages as message_store
from storage import reactions as reaction_store
from storage.clock import to_millis, utc_now
from storage.messages import NewMessage
from storage.tables import CONVERSATION_DIRECT, MSG_TEXT, STATUS_RECALLED


class MessagingService:
    def __init__(
        self, db: AsyncEngine, settings: Settings, pusher: Pusher, conversations: ConversationService, hooks: PreSendHooks | None = None
    ) -> None:
        self._db = db
        self._settings = settings
        self._pusher = pusher
        self._conversations = conversations
        self._hooks = hooks if hooks is not None else PreSendHooks()
        self._writer = MessageWriter(db, pusher)

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
    ) -> tuple[dict, bool]:
        """Store a message and push `message.new`. Returns (MessageVO, created); created is
        False when this sender already sent this `client_msg_id` with the same content (and
        reply) to the same conversation, in which case nothing is stored or pushed again."""
        if len(content) > self._settings.message_max_chars:
            raise PayloadTooLarge(f"content is longer than {self._settings.message_max_chars} characters")
        if receiver_id is not None and receiver_id == sender_id:
            raise ValidationFailed({"receiver_id": ["a direct message needs another user"]})
        if conversation_id is not None:
            # The one authorization rule, before anything else sees the message; the writer
            # checks again under the conversation's lock, for a removal racing this send.
            async with self._db.connect() as conn:
                await require_member(conn, conversation_id, sender_id)
        if self._hooks.hooks:
            content = await self._run_hooks(sender_id, conversation_id, receiver_id, content, msg_type)
        if client_msg_id is not None:
            repeated = await self._repeated(sender_id, client_msg_id, conversation_id, receiver_id, content, msg_type, reply_to)
            if repeated is not None:
                return repeated, False
        if receiver_id is not None:
            conversation_id = await self._conversations.ensure_direct(sender_id, receiver_id)
        if reply_to is not None:
            await self._require_quotable(conversation_id, reply_to)
        new = NewMessage(conversation_id, sender_id, None, content, msg_type, client_msg_id, None, reply_to)
        try:
            return await self._writer.write(new, origin)
        except DuplicateClientId:
            repeated = await self._repeated(sender_id, client_msg_id, conversation_id, None, content, msg_type, reply_to)
            if repeated is None:
                raise
            return repeated, False

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
    ) -> dict | None:
        """The message this client id already names, or None; 409 when it names another one."""
        async with self._db.connect() as conn:
            original = await message_store.find_by_client_msg_id(conn, sender_id, client_msg_id)
            if original is None:
                return None
            same_target = original.conversation_id == conversation_id if conversation_id is not None else original.receiver_id == receiver_id
            if not same_target or original.reply_to_id != reply_to or not _same_payload(original, content, msg_type):
                raise Conflict("client_msg_id already used for another message")
            return await message_view(conn, original)

    async def mark_read(self, user_id: int, conversation_id: int, seq: int, *, origin: Socket | None = None) -> dict:
        async with self._db.begin() as conn:
            membership = await require_member(conn, conversation_id, user_id)
            before = membership.last_read_seq
            marker = await conversation_store.advance_read_marker(conn, conversation_id, user_id, min(seq, membership.last_seq))
            if marker > before and membership.type == CONVERSATION_DIRECT:
                await message_store.mark_direct_read(conn, conversation_id, user_id, marker)
            unread = await conversation_store.unread_count(conn, conversation_id, user_id)
            audience = await conversation_store.member_ids(conn, conversation_id) if marker > before else []
        if audience:
            self._pusher.to_users(audience, MESSAGE_READ, {"conversation_id": conversation_id, "user_id": user_id, "last_read_seq": marker}, exclude=origin)
        return {"conversation_id": conversation_id, "last_read_seq": marker, "unread_count": unread}

    async def recall(self, user_id: int, message_id: int) -> dict:
        async with self._db.begin() as conn:
            message, membership = await self._own_message_locked(conn, user_id, message_id, "recall")
            if message.status == STATUS_RECALLED:
                return await message_view(conn, message)
            window = self._conversations.recall_window(membership)
            if utc_now() - message.created_at > timedelta(seconds=window):
                raise Forbidden(f"the recall window of {window} seconds is over")
            change_seq = await message_store.record_change(conn, message.conversation_id, message_id)
            await message_store.mark_recalled(conn, message_id, change_seq)
            await reaction_store.delete_for_message(conn, message_id)
            await mention_store.delete_for_message(conn, message_id)
            audience = await conversation_store.member_ids(conn, message.conversation_id)
            recalled = await message_view(conn, message, status=STATUS_RECALLED, change_seq=change_seq)
        event = {"conversation_id": message.conversation_id, "message_id": message_id, "seq": message.seq, "change_seq": change_seq}
        self._pusher.to_users(audience, MESSAGE_RECALLED, event)
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
        if self._hooks.hooks:
            content = await self._run_hooks(user_id, message.conversation_id, None, content, MSG_TEXT)
        async with self._db.begin() as conn:
            message, membership = await self._own_message_locked(conn, user_id, message_id, "edit")
            self._require_editable(message, membership)
            if message.content == content:
                return await message_view(conn, message)
            change_seq = await message_store.record_change(conn, message.conversation_id, message_id)
            now = utc_now()
            await message_store.edit_content(conn, message, content, change_seq, now)
            audience = await conversation_store.member_ids(conn, message.conversation_id)
            edited = await message_view(conn, message, content=content, edited_at=now, change_seq=change_seq)
        self._pusher.to_users(audience, MESSAGE_EDITED, edited, exclude=origin)
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
        """As `_own_message`, holding the conversation's row lock and then the message's (the
        order a send takes them in), so that edits and recalls of one message serialize."""
        message = await message_store.get_message(conn, message_id)
        if message is None:
            raise NotFound("no such message")
        membership = await conversation_store.get_membership(conn, message.conversation_id, user_id, lock=True)
        if membership is None:
            raise NotFound("no such message")
        message = await message_store.get_message(conn, message_id, lock=True)
        if message.sender_id != user_id:
            raise Forbidden(f"only the sender can {action} a message")
        return message, membership

    async def visible_message(self, user_id: int, message_id: int) -> dict:
        async with self._db.connect() as conn:
            message = await message_store.get_message(conn, message_id)
            if message is None or await conversation_store.get_membership(conn, message.conversation_id, user_id) is None:
                raise NotFound("no such message")
            return await message_view(conn, message)

    async def history(
        self, user_id: int, conversation_id: int, *, before: int | None, after: int | None, limit: int | None, changed_after: int | None = None
    ) -> list[dict]:
        limit = min(HISTORY_DEFAULT_LIMIT, self._settings.history_max_limit) if limit is None else limit
        errors = {}
        if limit > self._settings.history_max_limit:
            errors["limit"] = [f"must be at most {self._settings.history_max_limit}"]
        if sum(cursor is not None for cursor in (before, after, changed_after)) > 1:
            errors["before"] = ["give one of before, after and changed_after"]
        if errors:
            raise ValidationFailed(errors)
        async with self._db.connect() as conn:
            await require_member(conn, conversation_id, user_id)
            if changed_after is not None:
                rows = await message_store.changed_page(conn, conversation_id, changed_after=changed_after, limit=limit)
            else:
                rows = await message_store.page(conn, conversation_id, before=before, after=after, limit=limit)
            return await message_vos(conn, rows, viewer_id=user_id)


def _same_payload(original, content: str, msg_type: int) -> bool:
    """A file message is the same when it carries the same file, however the client wrote the reference."""
    if original.msg_type != msg_type:
        return False
    if msg_type == MSG_TEXT:
        return original.content == content
    return original.file_id == referenced_file_id(content)
