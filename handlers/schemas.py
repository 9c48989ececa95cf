"""Request schemas shared by the socket handlers and the REST views. Unknown fields are
refused (422) so that a misspelt field never silently does nothing."""

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from handlers.fields import client_msg_id_field, content_field, id_field, msg_type_field, seq_field

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

    @validates_schema
    def _one_identity(self, data, **kwargs):
        if (data.get("username") is None) == (data.get("email") is None):
            raise ValidationError("give username or email", "username")


class UpdateMeSchema(StrictSchema):
    nickname = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))
    avatar = fields.String(allow_none=True, validate=validate.Length(max=255))


class UserSearchSchema(StrictSchema):
    q = fields.String(load_default=None, validate=validate.Length(max=64))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))
    after = fields.Integer(load_default=None, validate=validate.Range(min=0))


class SendMessageSchema(StrictSchema):
    """`send_message` and POST /api/messages: to a conversation or to a user (direct)."""

    conversation_id = id_field(load_default=None)
    receiver_id = id_field(load_default=None)
    content = content_field()
    msg_type = msg_type_field()
    client_msg_id = client_msg_id_field()

    @validates_schema
    def _one_target(self, data, **kwargs):
        if (data.get("conversation_id") is None) == (data.get("receiver_id") is None):
            raise ValidationError("give conversation_id or receiver_id", "conversation_id")


class ConversationMessageSchema(StrictSchema):
    """POST /api/conversations/{id}/messages: the conversation is in the path."""

    content = content_field()
    msg_type = msg_type_field()
    client_msg_id = client_msg_id_field()


class DirectMessageSchema(ConversationMessageSchema):
    """POST /api/messages."""

    receiver_id = id_field(required=True)


class MarkReadSchema(StrictSchema):
    seq = seq_field(required=True)


class HistoryQuerySchema(StrictSchema):
    """Also read from a query string, so integers are not strict here."""

    before = fields.Integer(load_default=None, validate=validate.Range(min=0))
    after = fields.Integer(load_default=None, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=None, validate=validate.Range(min=1))


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


class UpdateConversationSchema(StrictSchema):
    """PATCH of a group: its name and/or its recall window (null: the server's setting;
    0: recall switched off)."""

    name = fields.String(validate=GROUP_NAME)
    recall_window_seconds = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=MAX_RECALL_WINDOW_SECONDS))

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            raise ValidationError("give name and/or recall_window_seconds", "name")


class AddMembersSchema(StrictSchema):
    user_ids = fields.List(id_field(), required=True, validate=validate.Length(min=1))
