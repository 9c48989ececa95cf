"""Read state of a group (issue 14 part 6): who has read a message, and how many, from the
members' read markers alone."""

import pytest

from tests.chat import online

pytestmark = pytest.mark.usefixtures("backend")


async def test_readers_and_read_counts_follow_the_read_markers(users):
    alice, bob, carol, dave, erin = [await users.make(name) for name in ("alice", "bob", "carol", "dave", "erin")]
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id, carol.id, dave.id]})
    gid = group["id"]
    first = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "one"})
    second = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "two"})
    bobs = await bob.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "three"})  # bob's marker: 3
    await carol.ok("POST", f"/api/conversations/{gid}/read", json={"seq": first["seq"]})

    def readers_path(message):
        return f"/api/conversations/{gid}/messages/{message['id']}/readers"

    assert [u["id"] for u in await alice.ok("GET", readers_path(first))] == [bob.id, carol.id]
    assert [u["id"] for u in await dave.ok("GET", readers_path(second))] == [bob.id]
    # alice's marker is at her own last message: she has not read bob's yet.
    assert await alice.ok("GET", readers_path(bobs)) == []
    (reader,) = await carol.ok("GET", readers_path(second))
    assert set(reader) == {"id", "username", "nickname", "avatar", "online"} and reader["username"] == "bob"

    # read_count: on the caller's own messages of a history page, REST and socket alike.
    page = await alice.ok("GET", f"/api/conversations/{gid}/messages")
    assert [m.get("read_count") for m in page] == [2, 1, None]
    (socket,) = await online(alice)
    reply = await socket.request("history", {"conversation_id": gid})
    assert [m.get("read_count") for m in reply["data"]] == [2, 1, None]
    assert [m.get("read_count") for m in await bob.ok("GET", f"/api/conversations/{gid}/messages")] == [None, None, 0]
    # The pushes and the other answers carry none.
    sent = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "four"})
    assert "read_count" not in sent

    # Reading moves it; a member who leaves is no longer counted.
    await dave.ok("POST", f"/api/conversations/{gid}/read", json={"seq": 4})
    assert [m.get("read_count") for m in await alice.ok("GET", f"/api/conversations/{gid}/messages")] == [3, 2, None, 1]
    # Sending moved alice's marker past bob's message; the sender is never its own reader.
    assert [u["id"] for u in await bob.ok("GET", readers_path(bobs))] == [alice.id, dave.id]
    await bob.ok("DELETE", f"/api/conversations/{gid}/members/{bob.id}")
    assert [m.get("read_count") for m in await alice.ok("GET", f"/api/conversations/{gid}/messages", params={"before": 3})] == [2, 1]
    assert [u["id"] for u in await alice.ok("GET", readers_path(first))] == [carol.id, dave.id]

    # Strangers, ex-members and other conversations' messages: 404.
    for stranger in (erin, bob):
        status, body = await stranger.call("GET", readers_path(first))
        assert (status, body["message"]) == (404, "no such conversation")
    other = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "h", "member_ids": [carol.id]})
    status, body = await carol.call("GET", f"/api/conversations/{other['id']}/messages/{first['id']}/readers")
    assert (status, body["message"]) == (404, "no such message")
    assert (await alice.call("GET", f"/api/conversations/{gid}/messages/999999/readers"))[0] == 404
    assert (await alice.call("GET", f"/api/conversations/{gid}/messages/x/readers"))[0] in (404, 422)


async def test_a_direct_conversation_has_readers_but_no_read_counts(users):
    alice, bob = await users.make("alice"), await users.make("bob")
    sent = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "hi"})
    path = f"/api/conversations/{sent['conversation_id']}/messages/{sent['id']}/readers"
    assert await alice.ok("GET", path) == []
    await bob.ok("POST", f"/api/conversations/{sent['conversation_id']}/read", json={"seq": 1})
    assert [u["id"] for u in await alice.ok("GET", path)] == [bob.id]
    (page,) = await alice.ok("GET", f"/api/conversations/{sent['conversation_id']}/messages")
    assert "read_count" not in page and page["status"] == 2


async def test_the_message_readers_frame_answers_as_the_route(users):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id]})
    gid = group["id"]
    sent = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "one"})
    await bob.ok("POST", f"/api/conversations/{gid}/read", json={"seq": sent["seq"]})
    (a1,), (c1,) = await online(alice), await online(carol)
    reply = await a1.request("message_readers", {"conversation_id": gid, "message_id": sent["id"]})
    assert reply["code"] == 200 and reply["data"] == await alice.ok("GET", f"/api/conversations/{gid}/messages/{sent['id']}/readers")
    assert [u["id"] for u in reply["data"]] == [bob.id]
    reply = await c1.request("message_readers", {"conversation_id": gid, "message_id": sent["id"]})
    assert (reply["code"], reply["message"]) == (404, "no such conversation")
    reply = await a1.request("message_readers", {"conversation_id": gid, "message_id": 999999})
    assert (reply["code"], reply["message"]) == (404, "no such message")
    for data in ({"conversation_id": gid}, {"conversation_id": gid, "message_id": "x"}, {"conversation_id": gid, "message_id": 1, "extra": 1}):
        assert (await a1.request("message_readers", data))["code"] == 422, data


async def test_a_member_who_joined_later_has_not_read_what_came_before(users):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id]})
    gid = group["id"]
    before = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "before carol"})
    added = await alice.ok("POST", f"/api/conversations/{gid}/members", json={"user_ids": [carol.id]})
    assert carol.id in {m["id"] for m in added}
    # carol's marker starts at last_seq: past the message, which she never saw.
    assert (await carol.ok("GET", f"/api/conversations/{gid}"))["last_read_seq"] == before["seq"]
    after = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "after carol"})
    await carol.ok("POST", f"/api/conversations/{gid}/read", json={"seq": after["seq"]})
    await bob.ok("POST", f"/api/conversations/{gid}/read", json={"seq": before["seq"]})

    assert [u["id"] for u in await alice.ok("GET", f"/api/conversations/{gid}/messages/{before['id']}/readers")] == [bob.id]
    assert [u["id"] for u in await alice.ok("GET", f"/api/conversations/{gid}/messages/{after['id']}/readers")] == [carol.id]
    assert [m["read_count"] for m in await alice.ok("GET", f"/api/conversations/{gid}/messages")] == [1, 1]
