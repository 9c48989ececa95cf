"""SendMessageSchema loads plainly valid data by hand (the hot path); it must agree with the
full marshmallow load on every input, valid or not."""

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError

from handlers.schemas import SendMessageSchema

SCHEMA = SendMessageSchema()

MISSING = object()
# Each field is mostly valid, sometimes on or past an edge, so that most frames are valid but for
# one or two fields: the cases where a hand-written check goes wrong.
odd = st.sampled_from([None, 0, -1, True, False, 1.0, 1.5, "1", "", [], {}, 2**70])
ids = st.one_of(st.integers(min_value=1, max_value=2**63), odd)
frame_fields = {
    "conversation_id": st.one_of(st.just(MISSING), ids),
    "receiver_id": st.one_of(st.just(MISSING), ids),
    "content": st.one_of(st.text(min_size=1, max_size=20), st.just(" "), st.just(MISSING), odd),
    "msg_type": st.one_of(st.just(MISSING), st.sampled_from([1, 2, 3, 4, 0]), odd),
    "client_msg_id": st.one_of(st.just(MISSING), st.text(min_size=1, max_size=3), st.sampled_from(["x" * 64, "x" * 65]), odd),
    "reply_to": st.one_of(st.just(MISSING), st.just(None), ids),
    "extra": st.one_of(st.just(MISSING), st.just(MISSING), st.just(MISSING), odd),
}
frames = st.fixed_dictionaries(frame_fields).map(lambda frame: {k: v for k, v in frame.items() if v is not MISSING})


def outcome(load, data):
    try:
        return "ok", load(data)
    except ValidationError as error:
        return "error", error.messages


@settings(max_examples=4000, deadline=None)
@given(frames)
def test_the_hand_written_path_agrees_with_marshmallow(data):
    assert outcome(SCHEMA.load, data) == outcome(lambda d: Schema.load(SCHEMA, d), data)


@settings(max_examples=500, deadline=None)
@given(
    target=st.sampled_from(["conversation_id", "receiver_id"]),
    target_id=st.integers(min_value=1, max_value=2**63),
    content=st.text(min_size=1, max_size=200),
    msg_type=st.sampled_from([None, 1, 2, 3]),
    client_msg_id=st.one_of(st.none(), st.text(min_size=1, max_size=64)),
)
def test_valid_frames_agree_with_marshmallow(target, target_id, content, msg_type, client_msg_id):
    data = {target: target_id, "content": content, "client_msg_id": client_msg_id}
    if msg_type is not None:
        data["msg_type"] = msg_type
    assert SCHEMA.load(data) == Schema.load(SCHEMA, data)


def test_a_plain_frame_does_not_take_the_marshmallow_load(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the full load ran")

    monkeypatch.setattr(Schema, "_do_load", refuse)
    assert SCHEMA.load({"receiver_id": 7, "content": "hi", "client_msg_id": "c-1"}) == {
        "conversation_id": None, "receiver_id": 7, "content": "hi", "msg_type": 1, "client_msg_id": "c-1", "reply_to": None
    }
