"""The plugin's frame types: `polls.create` makes a message its sender wrote into a poll (the
message is the question), `polls.vote` votes on it, `polls.close` ends it. Every change is
pushed to the conversation's members as `polls.updated`."""

from marshmallow import Schema, ValidationError, fields, validate, validates

from handlers.api import Conflict, Connection, Context, Forbidden, Handler, NotFound, ValidationFailed, in_transaction, require_api
from hubbub_polls_plugin import store

require_api("1.4")

TEXT = 1
RECALLED = 3


class OptionVO(Schema):
    text = fields.String(required=True)
    votes = fields.Integer(required=True)


class PollVO(Schema):
    message_id = fields.Integer(required=True, metadata={"description": "the message that asks the question"})
    conversation_id = fields.Integer(required=True)
    created_by = fields.Integer(required=True)
    closed = fields.Boolean(required=True, metadata={"description": "a closed poll takes no more votes"})
    options = fields.List(fields.Nested(OptionVO), required=True, metadata={"description": "in the order given; a vote names an option by its index"})
    voters = fields.Integer(required=True)


class PollView(PollVO):
    my_vote = fields.Integer(required=True, allow_none=True, metadata={"description": "the index of the caller's option, null when it has not voted"})


class CreateSchema(Schema):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    options = fields.List(fields.String(validate=validate.Length(min=1, max=100)), required=True, validate=validate.Length(min=2, max=10))

    @validates("options")
    def distinct(self, value: list[str], **kwargs) -> None:
        if len(set(value)) != len(value):
            raise ValidationError("options must differ")


class MessageSchema(Schema):
    message_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class VoteSchema(MessageSchema):
    option = fields.Integer(required=True, strict=True, allow_none=True, validate=validate.Range(min=0), metadata={"description": "null takes the caller's vote back"})


async def _poll_message(ctx: Context, message_id: int) -> dict:
    """The poll's message; 404 unless the caller may see it. A recalled message's poll is
    deleted by the plugin's subscriber; one it missed (PLUGINS.md §5) takes no votes either."""
    message = await ctx.message(message_id)
    if message["status"] == RECALLED:
        raise NotFound("no such poll")
    return message


class CreateHandler(Handler):
    """Make one of the caller's text messages a poll: the message asks, the options answer."""

    type = "polls.create"
    schema = CreateSchema
    reply = PollView  # these two only describe it, in /api/asyncapi.json
    events = {"polls.updated": PollVO}

    async def handle(self, ctx: Context, data: dict) -> dict:
        message = await ctx.message(data["message_id"])  # 404 unless the caller may see it
        if message["sender_id"] != ctx.user_id:
            raise Forbidden("only the message's sender can make it a poll")
        if message["status"] == RECALLED or message["msg_type"] != TEXT:
            raise ValidationFailed({"message_id": ["a poll's question is a text message that was not recalled"]})
        async with ctx.db.begin() as conn:
            if not await store.create(conn, message["id"], message["conversation_id"], ctx.user_id, data["options"]):
                raise Conflict("this message is a poll already")
            poll = await store.poll(conn, message["id"])
        await ctx.push_to_conversation(message["conversation_id"], "polls.updated", poll, skip_own_socket=True)
        return {**poll, "my_vote": None}


class VoteHandler(Handler):
    """Vote on a poll (one option per user; voting again moves the vote), or take the vote back."""

    type = "polls.vote"
    schema = VoteSchema
    reply = PollView
    events = {"polls.updated": PollVO}

    async def handle(self, ctx: Context, data: dict) -> dict:
        message = await _poll_message(ctx, data["message_id"])
        async def write(conn: Connection) -> tuple[bool, dict]:
            found = await store.locked(conn, message["id"])
            if found is None:
                raise NotFound("no such poll")
            if found["closed"]:
                raise Conflict("the poll is closed")
            if data["option"] is not None and data["option"] >= found["options"]:
                raise ValidationFailed({"option": [f"the poll has options 0 to {found['options'] - 1}"]})
            return await store.vote(conn, message["id"], ctx.user_id, data["option"]), await store.poll(conn, message["id"])

        # Votes lock the poll's row and write their own: a busy poll may meet a deadlock.
        changed, poll = await in_transaction(ctx.db, write, "a vote")
        if changed:  # the same vote again is a retry: nobody hears of it
            await ctx.push_to_conversation(message["conversation_id"], "polls.updated", poll, skip_own_socket=True)
        return {**poll, "my_vote": data["option"]}


class CloseHandler(Handler):
    """Close a poll the caller made: its votes stay, and it takes no more."""

    type = "polls.close"
    schema = MessageSchema
    reply = PollView
    events = {"polls.updated": PollVO}

    async def handle(self, ctx: Context, data: dict) -> dict:
        message = await _poll_message(ctx, data["message_id"])
        async def write(conn: Connection) -> tuple[bool, dict, int | None]:
            found = await store.locked(conn, message["id"])
            if found is None:
                raise NotFound("no such poll")
            if found["created_by"] != ctx.user_id:
                raise Forbidden("only the poll's creator can close it")
            changed = await store.close(conn, message["id"])
            return changed, await store.poll(conn, message["id"]), await store.vote_of(conn, message["id"], ctx.user_id)

        changed, poll, mine = await in_transaction(ctx.db, write, "a poll's closing")
        if changed:  # closing a closed poll changes nothing
            await ctx.push_to_conversation(message["conversation_id"], "polls.updated", poll, skip_own_socket=True)
        return {**poll, "my_vote": mine}
