"""Request schemas shared by the socket handlers and the REST views. Unknown fields are
refused (422) so that a misspelt field never silently does nothing."""

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from handlers.fields import StrictBoolean, client_msg_id_field, content_field, emoji_field, id_field, msg_type_field, reply_to_field, seq_field

# Published as a JSON Schema pattern (ECMA-262), so no Python-only syntax such as \Z (which ECMA
# reads as a literal "Z"). Python's `$` also matches before a final newline; `(?!\n)` refuses that
# and is a no-op in ECMA, where `$` is the end of the string.
USERNAME = validate.Regexp(r"^[A-Za-z0-9_]{3,32}$(?!\n)", error="3 to 32 letters, digits or underscores")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class RegisterSchema(StrictSchema):
    username = fields.String(required=True, validate=USERNAME)
    email = fields.Email(required=True, validate=validate.Length(max=128))
    password = fields.String(required=True, validate=validate.Length(min=6, max=128))
    nickname = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class LoginSchema(StrictSchema):
    username = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    email = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    # The session's label in the list of devices; the User-Agent when not given.
    device = fields.String(load_default=None, validate=validate.Length(min=1, max=128))

    @validates_schema
    def _one_identity(self, data, **kwargs):
        if (data.get("username") is None) == (data.get("email") is None):
            raise ValidationError("give username or email", "username")


class RefreshSchema(StrictSchema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=256))


def _two_factor_code():
    # A TOTP code (6 digits) or a recovery code (10 characters, a hyphen and spaces allowed).
    return fields.String(required=True, validate=validate.Length(min=6, max=32))


class TwoFactorEnrolSchema(StrictSchema):
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class TwoFactorConfirmSchema(StrictSchema):
    code = _two_factor_code()


class TwoFactorDisableSchema(StrictSchema):
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    code = _two_factor_code()


class TwoFactorLoginSchema(StrictSchema):
    challenge = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    code = _two_factor_code()
    device = fields.String(load_default=None, validate=validate.Length(min=1, max=128))


class DeleteAccountSchema(StrictSchema):
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    # Required when two-factor is on (the service says so: the schema cannot know).
    code = fields.String(load_default=None, validate=validate.Length(min=6, max=32))


class ChangePasswordSchema(StrictSchema):
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    new_password = fields.String(required=True, validate=validate.Length(min=6, max=128))  # as RegisterSchema.password

    @validates_schema
    def _differs(self, data, **kwargs):
        if data.get("current_password") is not None and data.get("current_password") == data.get("new_password"):
            raise ValidationError("must differ from the current password", "new_password")


class UpdateMeSchema(StrictSchema):
    nickname = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    avatar = fields.String(allow_none=True, validate=validate.Length(max=255))


class UserSearchSchema(StrictSchema):
    q = fields.String(load_default=None, validate=validate.Length(max=64))
    limit = fields.Integer(strict=True, load_default=50, validate=validate.Range(min=1, max=100))
    after = fields.Integer(strict=True, load_default=None, validate=validate.Range(min=0))


class SendMessageSchema(StrictSchema):
    """`send_message` and POST /api/messages: to a conversation or to a user (direct)."""

    conversation_id = id_field(load_default=None)
    receiver_id = id_field(load_default=None)
    content = content_field()
    msg_type = msg_type_field()
    client_msg_id = client_msg_id_field()
    reply_to = reply_to_field()

    @validates_schema
    def _one_target(self, data, **kwargs):
        if (data.get("conversation_id") is None) == (data.get("receiver_id") is None):
            raise ValidationError("give conversation_id or receiver_id", "conversation_id")

    def load(self, data, *, many=None, partial=None, unknown=None):
        """Every sent message passes here, and a marshmallow load was a fifth of the server's
        time per message. A frame that is plainly valid is loaded by `_plainly_valid`, to the
        same result; anything else, every error included, takes the full load.
        tests/test_send_message_schema.py checks the two agree."""
        if many is None and partial is None and unknown is None:
            loaded = _plainly_valid(data)
            if loaded is not None:
                return loaded
        return super().load(data, many=many, partial=partial, unknown=unknown)


_SEND_FIELDS = frozenset(("conversation_id", "receiver_id", "content", "msg_type", "client_msg_id", "reply_to"))


def _plainly_valid(data) -> dict | None:
    """What SendMessageSchema loads from `data`, or None when the full load must decide."""
    if type(data) is not dict or not _SEND_FIELDS.issuperset(data):
        return None
    content = data.get("content")
    conversation_id = data.get("conversation_id")
    receiver_id = data.get("receiver_id")
    msg_type = data.get("msg_type", 1)
    client_msg_id = data.get("client_msg_id")
    reply_to = data.get("reply_to")
    if type(content) is not str or not content:
        return None
    if (conversation_id is None) == (receiver_id is None):
        return None
    for target in (conversation_id, receiver_id, reply_to):
        if target is not None and (type(target) is not int or target < 1):
            return None
    if type(msg_type) is not int or msg_type not in (1, 2, 3):
        return None
    if client_msg_id is not None and (type(client_msg_id) is not str or not 1 <= len(client_msg_id) <= 64):
        return None
    return {
        "conversation_id": conversation_id,
        "receiver_id": receiver_id,
        "content": content,
        "msg_type": msg_type,
        "client_msg_id": client_msg_id,
        "reply_to": reply_to,
    }


class ConversationMessageSchema(StrictSchema):
    """POST /api/conversations/{id}/messages: the conversation is in the path."""

    content = content_field()
    msg_type = msg_type_field()
    client_msg_id = client_msg_id_field()
    reply_to = reply_to_field()


class DirectMessageSchema(ConversationMessageSchema):
    """POST /api/messages."""

    receiver_id = id_field(required=True)


class ForwardMessageSchema(StrictSchema):
    """POST /api/messages/{id}/forward: where to forward the message of the path."""

    conversation_id = id_field(load_default=None)
    receiver_id = id_field(load_default=None)
    client_msg_id = client_msg_id_field()

    @validates_schema
    def _one_target(self, data, **kwargs):
        if (data.get("conversation_id") is None) == (data.get("receiver_id") is None):
            raise ValidationError("give conversation_id or receiver_id", "conversation_id")


class EditMessageSchema(StrictSchema):
    """PATCH /api/messages/{id}: the new content of a text message."""

    content = content_field()


class ReactionSchema(StrictSchema):
    """The emoji of a reaction (REST: the last path segment of /api/messages/{id}/reactions/{emoji})."""

    emoji = emoji_field(required=True)


class MarkReadSchema(StrictSchema):
    seq = seq_field(required=True)


# PROTOCOL §3; the maximum is the setting history_max_limit, which the service enforces.
HISTORY_DEFAULT_LIMIT = 50


class HistoryQuerySchema(StrictSchema):
    """The `history` frame and, read from a query string (see read_query), the REST history."""

    before = seq_field(load_default=None)
    after = seq_field(load_default=None)
    changed_after = seq_field(load_default=None, metadata={"description": "a change seq: the messages changed (edited, recalled) since, by change seq"})
    limit = fields.Integer(strict=True, load_default=HISTORY_DEFAULT_LIMIT, validate=validate.Range(min=1))
    # JSON true on the socket, the text "true" in a query string.
    with_notices = fields.Boolean(
        truthy={True, "true"},
        falsy={False, "false"},
        load_default=False,
        metadata={"description": "true: the answer is {messages, notices}, the page's messages and the group notices among them (PROTOCOL §4, notices)"},
    )


SEARCH_DEFAULT_LIMIT = 20
SEARCH_MAX_LIMIT = 50


class SearchQuerySchema(StrictSchema):
    """GET /api/search, read from the query string (see read_query)."""

    q = fields.String(required=True, validate=[validate.Length(min=1, max=256)], metadata={"description": "words, all of which a message must hold"})
    conversation_id = id_field(load_default=None, metadata={"description": "search this conversation only"})
    before = id_field(load_default=None, metadata={"description": "a message id: the hits older than it (`next_before` of the page before)"})
    limit = fields.Integer(strict=True, load_default=SEARCH_DEFAULT_LIMIT, validate=validate.Range(min=1, max=SEARCH_MAX_LIMIT))


def _not_blank(value: str) -> bool:
    if not value.strip():
        raise ValidationError("must not be blank")
    return True


GROUP_NAME = [validate.Length(min=1, max=64), _not_blank]


class CreateConversationSchema(StrictSchema):
    """`{type: "direct", peer_id}` or `{type: "group", name, member_ids?}`; a field of the other
    shape is refused rather than ignored."""

    type = fields.String(required=True, validate=validate.OneOf(["direct", "group"]))
    peer_id = id_field(load_default=None)
    name = fields.String(load_default=None, validate=GROUP_NAME)
    member_ids = fields.List(id_field(), load_default=None)

    @validates_schema
    def _shape(self, data, **kwargs):
        if data.get("type") == "direct":
            if data.get("peer_id") is None:
                raise ValidationError("required for a direct conversation", "peer_id")
            for field in ("name", "member_ids"):
                if data.get(field) is not None:
                    raise ValidationError("not allowed for a direct conversation", field)
        if data.get("type") == "group":
            if not data.get("name"):
                raise ValidationError("required for a group", "name")
            if data.get("peer_id") is not None:
                raise ValidationError("not allowed for a group; use member_ids", "peer_id")


MAX_RECALL_WINDOW_SECONDS = 7 * 24 * 3600


MAX_EDIT_WINDOW_SECONDS = 7 * 24 * 3600


class UpdateConversationSchema(StrictSchema):
    """PATCH of a group: its name, its recall and edit windows (null: the server's setting;
    0: recall or editing switched off) and/or who may mention @all."""

    name = fields.String(validate=GROUP_NAME)
    recall_window_seconds = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=MAX_RECALL_WINDOW_SECONDS))
    edit_window_seconds = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=MAX_EDIT_WINDOW_SECONDS))
    mentions_all = StrictBoolean(metadata={"description": "true: every member may mention @all; false: the owner only"})

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError("give name, recall_window_seconds, edit_window_seconds and/or mentions_all", "name")


class ConversationSettingsSchema(StrictSchema):
    """PATCH /api/conversations/{id}/settings: the caller's own settings of a conversation."""

    muted = StrictBoolean(metadata={"description": "still delivered; clients do not notify"})
    pinned = StrictBoolean(metadata={"description": "listed before the others"})
    archived = StrictBoolean(metadata={"description": "left out of the list until a new message arrives"})

    @validates_schema
    def _something(self, data, **kwargs):
        if not data.keys() & {"muted", "pinned", "archived"}:
            raise ValidationError("give muted, pinned and/or archived", "muted")


class ConversationListQuerySchema(StrictSchema):
    """GET /api/conversations, from its query string."""

    include_archived = fields.Boolean(truthy={"true"}, falsy={"false"}, load_default=False, metadata={"description": "true: archived ones too"})


class AddMembersSchema(StrictSchema):
    user_ids = fields.List(id_field(), required=True, validate=validate.Length(min=1))


class MemberRoleSchema(StrictSchema):
    """PATCH /api/conversations/{id}/members/{user_id}: the owner makes a member admin or not."""

    role = fields.String(required=True, validate=validate.OneOf(["admin", "member"]))


class TransferOwnerSchema(StrictSchema):
    """POST /api/conversations/{id}/owner: the member the owner hands the group to."""

    user_id = id_field(required=True)
