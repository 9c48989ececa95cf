"""The events the server pushes (PROTOCOL §4), in one place: the services push them by these
names, and the AsyncAPI document (server/asyncapi.py) describes them from here, so the two
cannot drift apart (tests/test_asyncapi.py checks that every event the code pushes is here).

A payload is a schema of its own, or the name of a contract object of PROTOCOL §2 (the server
publishes their schemas; handlers cannot import the server). A plugin declares its own events
on its handler class (`Handler.events`)."""

from dataclasses import dataclass

from marshmallow import Schema, fields

MESSAGE_NEW = "message.new"
MESSAGE_READ = "message.read"
MESSAGE_RECALLED = "message.recalled"
MESSAGE_EDITED = "message.edited"
MESSAGE_REACTION = "message.reaction"
TYPING = "typing"
PRESENCE = "presence"
CONVERSATION_CREATED = "conversation.created"
CONVERSATION_UPDATED = "conversation.updated"
CONVERSATION_DELETED = "conversation.deleted"
MEMBER_ADDED = "member.added"
MEMBER_REMOVED = "member.removed"
MEMBER_UPDATED = "member.updated"
CONVERSATION_NOTICE = "conversation.notice"
USER_UPDATED = "user.updated"


class ReadEvent(Schema):
    conversation_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True, metadata={"description": "the reader"})
    last_read_seq = fields.Integer(required=True)


class RecalledEvent(Schema):
    conversation_id = fields.Integer(required=True)
    message_id = fields.Integer(required=True)
    seq = fields.Integer(required=True)
    change_seq = fields.Integer(required=True, metadata={"description": "the conversation's change seq of this recall"})
    recalled_by = fields.Integer(
        required=True, allow_none=True, metadata={"description": "the owner or admin who recalled another member's message; null: the sender did"}
    )


class ReactionSummary(Schema):
    emoji = fields.String(required=True)
    count = fields.Integer(required=True, metadata={"description": "how many users reacted with it"})
    user_ids = fields.List(fields.Integer(), required=True, metadata={"description": "the first 10 of them, in the order they reacted"})


class ReactionEvent(Schema):
    conversation_id = fields.Integer(required=True)
    message_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True, metadata={"description": "who reacted or took the reaction back"})
    emoji = fields.String(required=True)
    added = fields.Boolean(required=True, metadata={"description": "false: taken back"})
    change_seq = fields.Integer(required=True)
    reactions = fields.List(fields.Nested(ReactionSummary), required=True, metadata={"description": "the message's reactions now, without `me`"})


class TypingEvent(Schema):
    conversation_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True)


class PresenceEvent(Schema):
    user_id = fields.Integer(required=True)
    online = fields.Boolean(required=True)
    last_seen = fields.Integer(required=True, allow_none=True, metadata={"description": "ms since the epoch; null while online"})


class ConversationDeletedEvent(Schema):
    conversation_id = fields.Integer(required=True)
    by = fields.Integer(required=True, metadata={"description": "who deleted it: the owner"})


class MemberEvent(Schema):
    conversation_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True, metadata={"description": "the member added or removed"})
    by = fields.Integer(required=True, metadata={"description": "who added or removed them; the member itself when it left"})


class MemberRoleEvent(Schema):
    conversation_id = fields.Integer(required=True)
    user_id = fields.Integer(required=True, metadata={"description": "the member whose role changed"})
    role = fields.String(required=True, metadata={"description": "owner, admin or member"})
    by = fields.Integer(required=True, metadata={"description": "who changed it: the owner (or, for a hand-over, the previous owner)"})


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    summary: str  # who gets it, and when
    payload: type[Schema] | str  # a schema, or the name of a contract object (PROTOCOL §2)


EVENTS: dict[str, Event] = {
    event.name: event
    for event in (
        Event(MESSAGE_NEW, "A committed message, to every socket of every member but the sending one, in seq order.", "MessageVO"),
        Event(MESSAGE_READ, "A member's read marker moved: to the other members and the reader's other sockets.", ReadEvent),
        Event(MESSAGE_RECALLED, "A message was recalled: to every member's sockets, the recalling one included.", RecalledEvent),
        Event(MESSAGE_EDITED, "A message's content was edited: to every member's sockets but the editing one.", "MessageVO"),
        Event(MESSAGE_REACTION, "A reaction was added or taken back: to every member's sockets but the reacting one.", ReactionEvent),
        Event(TYPING, "A member is typing: to the other members' sockets; nothing is stored.", TypingEvent),
        Event(PRESENCE, "A user's first socket opened or last one closed: to the users sharing a conversation with them, but those they block; and, from an online user, to a partner they block (offline) or unblock (online) (PROTOCOL §2, Presence and blocks).", PresenceEvent),
        Event(CONVERSATION_CREATED, "A conversation the user is now a member of, as that member sees it.", "ConversationVO"),
        Event(CONVERSATION_UPDATED, "A conversation changed (renamed, a window set: to every member; the member's own mute, pin or archive: to that member's other sockets), as each member sees it.", "ConversationVO"),
        Event(CONVERSATION_DELETED, "A group was deleted: to every member's sockets.", ConversationDeletedEvent),
        Event(MEMBER_ADDED, "A user joined a group: to every member's sockets, the added user's included.", MemberEvent),
        Event(MEMBER_REMOVED, "A user left or was removed: to every member's sockets, the removed user's included.", MemberEvent),
        Event(MEMBER_UPDATED, "A member's role changed (made admin or member, or the group handed over): to every member's sockets.", MemberRoleEvent),
        Event(
            CONVERSATION_NOTICE,
            "A notice stored in a group's history (created, added, removed, left, renamed, role, owner): to every member's sockets, the added or removed user's included, after the change's other events.",
            "NoticeVO",
        ),
        Event(
            USER_UPDATED,
            "A user's nickname or avatar changed (or the account was deleted: the anonymised profile): their UserVO, to every user sharing a conversation with them and to their own sockets; those they block get it with online false (PROTOCOL §2, Presence and blocks).",
            "UserVO",
        ),
    )
}
