"""Forwarding (issue 14 part 8): a copy of a message the sender may read, sent to a conversation
or user the sender may write to through the send path, marked with who first wrote it and
nothing else of where it came from."""

import pytest

from tests.chat import online, take
from tests.test_files import PNG, upload

pytestmark = pytest.mark.usefixtures("backend")


async def two_groups(users):
    """alice and bob share `source`; alice and carol share `target`; dave is in neither."""
    alice, bob, carol, dave = [await users.make(name) for name in ("alice", "bob", "carol", "dave")]
    source = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "source", "member_ids": [bob.id]})
    target = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "target", "member_ids": [carol.id]})
    return alice, bob, carol, dave, source, target


async def test_a_forward_is_a_new_message_of_the_target_pushed_and_counted_as_any_other(users):
    alice, bob, carol, dave, source, target = await two_groups(users)
    original = await bob.ok("POST", f"/api/conversations/{source['id']}/messages", json={"content": "meet at 6 @carol"})
    forwarding, other_device = await online(alice, 2)
    (carol_socket,), (bob_socket,) = await online(carol), await online(bob)

    reply = await forwarding.request("forward_message", {"message_id": original["id"], "conversation_id": target["id"], "client_msg_id": "f-1"})
    assert reply["code"] == 201, reply
    forwarded = reply["data"]
    assert forwarded["conversation_id"] == target["id"] and forwarded["seq"] == 1 and forwarded["sender_id"] == alice.id
    assert forwarded["content"] == "meet at 6 @carol" and forwarded["msg_type"] == 1 and forwarded["client_msg_id"] == "f-1"
    # Only who wrote it: not the source conversation nor its message, which carol cannot see.
    assert forwarded["forwarded_from"] == {"sender_id": bob.id}
    assert forwarded["mentions"] == [] and forwarded["reply_to"] is None and forwarded["reactions"] == []

    assert await take(carol_socket, "message.new") == [forwarded]
    assert await take(other_device, "message.new") == [forwarded]
    assert await take(forwarding, "message.new") == []
    assert await take(bob_socket, "message.new") == []
    assert (await carol.ok("GET", f"/api/conversations/{target['id']}/messages")) == [forwarded]
    listed = {c["id"]: c for c in await carol.ok("GET", "/api/conversations")}
    assert listed[target["id"]]["unread_count"] == 1 and listed[target["id"]]["last_message"] == forwarded
    # The original is untouched; a plain message is not marked.
    (kept,) = await bob.ok("GET", f"/api/conversations/{source['id']}/messages")
    assert kept["forwarded_from"] is None and kept["seq"] == 1

    # A retry with the same client_msg_id is the same message, nothing pushed again.
    again = await forwarding.request("forward_message", {"message_id": original["id"], "conversation_id": target["id"], "client_msg_id": "f-1"})
    assert again["code"] == 200 and again["data"] == forwarded
    assert await take(carol_socket, "message.new") == []
    # The same client_msg_id for another message, or for a plain send, is a conflict.
    other = await bob.ok("POST", f"/api/conversations/{source['id']}/messages", json={"content": "meet at 6 @carol"})
    clash = await forwarding.request("forward_message", {"message_id": other["id"], "conversation_id": target["id"], "client_msg_id": "f-1"})
    assert clash["code"] == 409
    plain = await alice.call("POST", f"/api/conversations/{target['id']}/messages", json={"content": "meet at 6 @carol", "client_msg_id": "f-1"})
    assert plain[0] == 409


async def test_a_forward_of_a_forward_keeps_the_first_writer_and_edits_travel_as_they_are_now(users):
    alice, bob, carol, dave, source, target = await two_groups(users)
    original = await bob.ok("POST", f"/api/conversations/{source['id']}/messages", json={"content": "draft"})
    await bob.ok("PATCH", f"/api/messages/{original['id']}", json={"content": "final"})
    first = await alice.ok("POST", f"/api/messages/{original['id']}/forward", json={"conversation_id": target["id"]})
    assert first["content"] == "final" and first["forwarded_from"] == {"sender_id": bob.id} and first["edited_at"] is None

    # carol forwards alice's forward to dave, directly: the direct conversation is made for it.
    status, body = await carol.call("POST", f"/api/messages/{first['id']}/forward", json={"receiver_id": dave.id})
    assert status == 201, body
    second = body["data"]
    assert second["receiver_id"] == dave.id and second["sender_id"] == carol.id
    assert second["forwarded_from"] == {"sender_id": bob.id}
    (history,) = await dave.ok("GET", f"/api/conversations/{second['conversation_id']}/messages")
    assert history == second


async def test_a_file_message_is_forwarded_with_its_file_which_the_target_may_then_download(users):
    alice, bob, carol, dave, source, target = await two_groups(users)
    status, body = await upload(bob, PNG, filename="cat.png")
    assert status == 201
    file = body["data"]
    picture = await bob.ok("POST", f"/api/conversations/{source['id']}/messages", json={"content": f'{{"file_id": {file["id"]}}}', "msg_type": 2})
    assert (await carol.call("GET", file["url"]))[0] == 404

    forwarded = await alice.ok("POST", f"/api/messages/{picture['id']}/forward", json={"conversation_id": target["id"]})
    assert forwarded["msg_type"] == 2 and forwarded["content"] == picture["content"]
    assert forwarded["forwarded_from"] == {"sender_id": bob.id}
    response = await carol.client.get(file["url"], headers=carol.auth)
    assert response.status == 200 and await response.read() == PNG


async def test_only_a_readable_unrecalled_message_to_a_writable_target(users):
    alice, bob, carol, dave, source, target = await two_groups(users)
    original = await bob.ok("POST", f"/api/conversations/{source['id']}/messages", json={"content": "secret"})
    (carol_socket,) = await online(carol)

    # carol is not in the source: the message does not exist for her, whatever the target.
    reply = await carol_socket.request("forward_message", {"message_id": original["id"], "conversation_id": target["id"]})
    assert (reply["code"], reply["message"]) == (404, "no such message")
    # dave is in neither; bob is not in the target.
    status, body = await dave.call("POST", f"/api/messages/{original['id']}/forward", json={"receiver_id": alice.id})
    assert (status, body["message"]) == (404, "no such message")
    status, body = await bob.call("POST", f"/api/messages/{original['id']}/forward", json={"conversation_id": target["id"]})
    assert (status, body["message"]) == (404, "no such conversation")
    # No such message, no such conversation, no such user.
    assert (await alice.call("POST", "/api/messages/999999/forward", json={"conversation_id": target["id"]}))[0] == 404
    assert (await alice.call("POST", f"/api/messages/{original['id']}/forward", json={"conversation_id": 999999}))[0] == 404
    assert (await alice.call("POST", f"/api/messages/{original['id']}/forward", json={"receiver_id": 999999}))[0] == 404
    # An ex-member of the source can no longer forward from it.
    await bob.ok("DELETE", f"/api/conversations/{source['id']}/members/{bob.id}")
    status, body = await bob.call("POST", f"/api/messages/{original['id']}/forward", json={"receiver_id": alice.id})
    assert (status, body["message"]) == (404, "no such message")

    # A recalled message cannot be forwarded.
    mine = await alice.ok("POST", f"/api/conversations/{source['id']}/messages", json={"content": "oops"})
    await alice.ok("POST", f"/api/messages/{mine['id']}/recall")
    status, body = await alice.call("POST", f"/api/messages/{mine['id']}/forward", json={"conversation_id": target["id"]})
    assert (status, body["message"]) == (403, "a recalled message cannot be forwarded")

    # Bad input: 422 in the envelope, the socket stays open.
    for data in (
        {"message_id": original["id"]},
        {"message_id": original["id"], "conversation_id": target["id"], "receiver_id": bob.id},
        {"message_id": "x", "conversation_id": target["id"]},
        {"conversation_id": target["id"]},
        {"message_id": original["id"], "conversation_id": target["id"], "content": "no"},
    ):
        assert (await carol_socket.request("forward_message", data))["code"] == 422, data
    status, body = await alice.call("POST", f"/api/messages/{original['id']}/forward", json={"receiver_id": alice.id})
    assert (status, body["data"]["errors"]) == (422, {"receiver_id": ["a direct message needs another user"]})
    assert (await alice.call("POST", f"/api/messages/{original['id']}/forward", json={}))[0] == 422
    assert await take(carol_socket, "message.new") == []
    assert await carol.ok("GET", f"/api/conversations/{target['id']}/messages") == []
