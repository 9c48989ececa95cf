"""The contract's objects (PROTOCOL §2), built from storage rows. One function per object so
that a rule such as "a recalled message's content is empty" holds in every read and push."""

from typing import Any

import orjson

from storage.clock import to_millis
from storage.tables import CONVERSATION_DIRECT, MSG_TEXT, ROLE_ADMIN, ROLE_OWNER, STATUS_RECALLED

# PROTOCOL §2: how much of a quoted text a reply carries.
QUOTE_PREVIEW_CHARS = 100
# PROTOCOL §2: how many of the users who reacted with an emoji a ReactionVO names.
REACTION_USERS_SHOWN = 10

def user_vo(row: Any, online: bool) -> dict:
    return {"id": row.id, "username": row.username, "nickname": row.nickname, "avatar": row.avatar, "online": online}


ROLE_NAMES = {ROLE_OWNER: "owner", ROLE_ADMIN: "admin"}


def role_name(role: int) -> str:
    """A member's role on the wire: "owner", "admin" or "member" (every member of a direct one)."""
    return ROLE_NAMES.get(role, "member")


def member_vo(row: Any, online: bool, role: int) -> dict:
    """A UserVO with the user's role in one conversation."""
    vo = user_vo(row, online)
    vo["role"] = role_name(role)
    return vo


def notice_vo(notice: Any) -> dict:
    """A stored notice (storage.notices.Notice) on the wire."""
    return {
        "id": notice.id,
        "conversation_id": notice.conversation_id,
        "after_seq": notice.after_seq,
        "kind": notice.kind,
        "actor_id": notice.actor_id,
        "subject_id": notice.subject_id,
        "data": notice.data,
        "created_at": to_millis(notice.created_at),
    }


def me_vo(row: Any, online: bool) -> dict:
    vo = user_vo(row, online)
    vo.update(email=row.email, status=row.status, created_at=to_millis(row.created_at))
    return vo


def message_vo(row: Any, quoted: Any = None, reactions: list[dict] | None = None, mentions: list[int] | None = None) -> dict:
    """`row` is a storage Row or the dict `storage.messages.append_message` returns; `quoted`
    is the row of the message it replies to (a dict row may carry its `reply_to` instead);
    `reactions` its ReactionVOs (none: a message just sent has none); `mentions` the user ids
    it mentions (a dict row just appended may carry its `mentions` instead)."""
    get = row.get if isinstance(row, dict) else row._mapping.get
    status = get("status")
    edited_at = get("edited_at")
    forwarded_sender_id = get("forwarded_sender_id")
    return {
        "id": get("id"),
        "conversation_id": get("conversation_id"),
        "seq": get("seq"),
        "sender_id": get("sender_id"),
        "receiver_id": get("receiver_id"),
        "content": "" if status == STATUS_RECALLED else get("content"),
        "msg_type": get("msg_type"),
        "status": status,
        "client_msg_id": get("client_msg_id"),
        "created_at": to_millis(get("created_at")),
        # A row just appended carries neither: it was never changed.
        "edited_at": to_millis(edited_at) if edited_at is not None else None,
        "change_seq": get("change_seq") or 0,
        "reply_to": quote_vo(quoted) if quoted is not None else get("reply_to"),
        "reactions": [] if status == STATUS_RECALLED or reactions is None else reactions,
        "mentions": [] if status == STATUS_RECALLED else (mentions if mentions is not None else get("mentions") or []),
        # Only who first wrote a forward: nothing of the conversation it came from, which the
        # readers of the forward may not be in.
        "forwarded_from": {"sender_id": forwarded_sender_id} if forwarded_sender_id is not None else None,
        # A moderation recall names the moderator; the sender's own recall, nobody.
        "recalled_by": get("recalled_by") if status == STATUS_RECALLED else None,
    }


def reaction_vos(summaries: list[Any], *, for_viewer: bool) -> list[dict]:
    """ReactionVOs of `storage.reactions.ReactionSummary`s. `me` is the viewer's own and so
    only in answers to one caller: a push is serialized once for all its recipients."""
    if for_viewer:
        return [{"emoji": s.emoji, "count": s.count, "user_ids": s.user_ids, "me": s.mine} for s in summaries]
    return [{"emoji": s.emoji, "count": s.count, "user_ids": s.user_ids} for s in summaries]


def quote_vo(row: Any) -> dict:
    """What a reply shows of the message it quotes, as that message is now."""
    if row.status == STATUS_RECALLED:
        preview = ""
    elif row.msg_type == MSG_TEXT:
        preview = row.content[:QUOTE_PREVIEW_CHARS]
    else:
        preview = orjson.loads(row.content)["name"]
    return {"id": row.id, "seq": row.seq, "sender_id": row.sender_id, "msg_type": row.msg_type, "status": row.status, "preview": preview}


def message_version_vo(row: Any) -> dict:
    return {"version": row.version, "content": row.content, "created_at": to_millis(row.created_at)}


def conversation_type(row: Any) -> str:
    return "direct" if row.type == CONVERSATION_DIRECT else "group"


def direct_peer_id(row: Any, user_id: int) -> int | None:
    if row.type != CONVERSATION_DIRECT:
        return None
    return row.direct_high_id if row.direct_low_id == user_id else row.direct_low_id


def is_archived(row: Any) -> bool:
    """Archived until a message arrives after the member archived it."""
    return row.archived_seq is not None and row.last_seq <= row.archived_seq


def conversation_vo(
    row: Any,
    *,
    last_read_seq: int,
    unread_count: int,
    mention_count: int,
    last_message: dict | None,
    peer: dict | None,
    recall_window_seconds: int,
    edit_window_seconds: int,
) -> dict:
    return {
        "id": row.id,
        "type": conversation_type(row),
        "name": row.name,
        "owner_id": row.owner_id,
        "role": role_name(row.role),
        "peer": peer,
        "last_seq": row.last_seq,
        "last_read_seq": last_read_seq,
        "unread_count": unread_count,
        "mention_count": mention_count,
        "last_message": last_message,
        "recall_window_seconds": recall_window_seconds,
        "edit_window_seconds": edit_window_seconds,
        "mentions_all": bool(row.mentions_all),
        "last_change_seq": row.last_change_seq,
        "muted": bool(row.muted),
        "pinned": bool(row.pinned),
        "archived": is_archived(row),
        "created_at": to_millis(row.created_at),
        "updated_at": to_millis(row.updated_at),
    }
