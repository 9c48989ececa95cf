"""Blocking (PROTOCOL §3 blocking), over real HTTP and sockets on MariaDB and SQLite: the blocked
user can no longer start or write in a direct conversation with the blocker (the plain 403 of
anything not allowed), does not see the blocker's presence or typing; group messages flow as
before; unblocking undoes it all."""

from __future__ import annotations

import asyncio

import pytest

from tests.chat import PASSWORD, online, take
from tests.test_groups import presence_of

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
async def trio(users):
    return [await users.make(name) for name in ("alice", "bob", "carol")]


async def direct(sender, receiver, content: str = "hi") -> tuple[int, dict]:
    return await sender.call("POST", "/api/messages", json={"receiver_id": receiver.id, "content": content})


async def test_block_list_and_unblock(trio):
    alice, bob, carol = trio
    assert await alice.ok("GET", "/api/users/blocked") == []
    for _ in range(2):  # idempotent
        assert await alice.ok("POST", f"/api/users/{bob.id}/block") is None
    await alice.ok("POST", f"/api/users/{carol.id}/block")
    blocked = await alice.ok("GET", "/api/users/blocked")
    assert [row["id"] for row in blocked] == [carol.id, bob.id]
    assert set(blocked[0]) == {"id", "username", "nickname", "avatar", "online", "blocked_at"}
    # Lists are the caller's own.
    assert await bob.ok("GET", "/api/users/blocked") == []
    for _ in range(2):
        assert await alice.ok("DELETE", f"/api/users/{carol.id}/block") is None
    assert [row["id"] for row in await alice.ok("GET", "/api/users/blocked")] == [bob.id]


async def test_bad_targets(trio):
    alice, bob, _ = trio
    status, body = await alice.call("POST", f"/api/users/{alice.id}/block")
    assert status == 422 and "id" in body["data"]["errors"], body
    for path in ("/api/users/999999/block", "/api/users/abc/block", "/api/users/0/block"):
        for method in ("POST", "DELETE"):
            status, body = await alice.call(method, path)
            assert status == 404 and body["code"] == 404, (method, path, body)
    for method, path in (("POST", f"/api/users/{bob.id}/block"), ("DELETE", f"/api/users/{bob.id}/block"), ("GET", "/api/users/blocked")):
        response = await alice.client.request(method, path)
        assert response.status == 401
    assert await alice.ok("GET", "/api/users/blocked") == []


async def test_the_blocked_user_cannot_write_directly_and_learns_only_not_allowed(trio):
    alice, bob, carol = trio
    # Another refusal of the same routes, for comparison: a direct conversation with oneself is
    # 422, so compare with the 403 of something simply not allowed (removing from a direct one).
    conversation = await bob.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": alice.id})
    status, not_allowed = await bob.call("DELETE", f"/api/conversations/{conversation['id']}/members/{alice.id}")
    assert status == 403
    await alice.ok("POST", f"/api/users/{bob.id}/block")

    status, body = await direct(bob, alice)
    assert status == 403 and body["message"] == "not allowed" and body["data"] is None, body
    status, body = await bob.call("POST", f"/api/conversations/{conversation['id']}/messages", json={"content": "hi"})
    assert status == 403 and body["message"] == "not allowed", body
    status, body = await bob.call("POST", "/api/conversations", json={"type": "direct", "peer_id": alice.id})
    assert status == 403 and body["message"] == "not allowed", body
    assert set(body) == set(not_allowed)
    (socket,) = await online(bob)
    reply = await socket.request("send_message", {"conversation_id": conversation["id"], "content": "hi"})
    assert (reply["code"], reply["message"]) == (403, "not allowed"), reply
    reply = await socket.request("send_message", {"receiver_id": alice.id, "content": "hi"})
    assert (reply["code"], reply["message"]) == (403, "not allowed"), reply
    assert (await alice.ok("GET", f"/api/conversations/{conversation['id']}"))["last_seq"] == 0

    # Nobody else is touched: carol writes to alice, alice to bob, bob to carol.
    assert (await direct(carol, alice))[0] == 201
    assert (await direct(alice, bob))[0] == 201
    assert (await direct(bob, carol))[0] == 201
    # Unblocked, bob writes again.
    await alice.ok("DELETE", f"/api/users/{bob.id}/block")
    assert (await direct(bob, alice))[0] == 201
    await socket.close()


async def test_a_blocked_user_starts_no_conversation_by_writing(trio):
    """A first message by receiver_id to someone who blocked the sender creates nothing: no
    conversation in either list, no conversation.created on the blocker's socket."""
    alice, bob, _ = trio
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    (alice_socket,) = await online(alice)
    status, body = await direct(bob, alice)
    assert (status, body["message"]) == (403, "not allowed"), body
    (bob_socket,) = await online(bob)
    reply = await bob_socket.request("send_message", {"receiver_id": alice.id, "content": "hi"})
    assert (reply["code"], reply["message"]) == (403, "not allowed"), reply
    assert await alice.ok("GET", "/api/conversations") == []
    assert await bob.ok("GET", "/api/conversations") == []
    await alice_socket.no_event("conversation.created", 0.3)
    await alice_socket.close()
    await bob_socket.close()


async def test_group_messages_still_flow_both_ways(trio):
    alice, bob, carol = trio
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "club", "member_ids": [bob.id, carol.id]})
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    (a,) = await online(alice)
    (b,) = await online(bob)
    await bob.ok("POST", f"/api/conversations/{group['id']}/messages", json={"content": "from bob"})
    await alice.ok("POST", f"/api/conversations/{group['id']}/messages", json={"content": "from alice"})
    assert [m["content"] for m in await take(a, "message.new")] == ["from bob", "from alice"]
    assert [m["content"] for m in await take(b, "message.new")] == ["from bob", "from alice"]
    for socket in (a, b):
        await socket.close()


async def test_the_blocked_user_does_not_see_the_blockers_typing_or_presence(trio):
    alice, bob, carol = trio
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "club", "member_ids": [bob.id, carol.id]})
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    (b,) = await online(bob)
    (c,) = await online(carol)
    await asyncio.sleep(0.3)
    for socket in (b, c):
        await take(socket, "presence")

    (a,) = await online(alice)
    assert (await presence_of(c, alice))["online"] is True
    assert (await a.request("typing", {"conversation_id": group["id"]}))["code"] == 200
    assert [event["user_id"] for event in await take(c, "typing")] == [alice.id]
    assert await take(b, "typing") == []
    await a.close()
    assert (await presence_of(c, alice))["online"] is False
    await b.no_event("presence")
    assert [event for event in await take(b, "presence") if event["user_id"] == alice.id] == []

    # The blocker still sees the blocked user's typing; unblocking shows alice again.
    assert (await b.request("typing", {"conversation_id": group["id"]}))["code"] == 200
    await alice.ok("DELETE", f"/api/users/{bob.id}/block")
    (a,) = await online(alice)
    assert (await presence_of(b, alice))["online"] is True
    assert (await a.request("typing", {"conversation_id": group["id"]}))["code"] == 200
    assert [event["user_id"] for event in await take(b, "typing")] == [alice.id]
    for socket in (a, b, c):
        await socket.close()


async def test_the_blocked_user_sees_the_blocker_offline_in_lists(trio):
    alice, bob, _ = trio
    await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "hi"})
    (a,) = await online(alice)
    assert (await bob.ok("GET", f"/api/users/{alice.id}"))["online"] is True
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    assert (await bob.ok("GET", f"/api/users/{alice.id}"))["online"] is False
    assert [conv["peer"]["online"] for conv in await bob.ok("GET", "/api/conversations")] == [False]
    # Alice sees bob as he is; unblocked, bob sees alice online again.
    (b,) = await online(bob)
    assert (await alice.ok("GET", f"/api/users/{bob.id}"))["online"] is True
    await alice.ok("DELETE", f"/api/users/{bob.id}/block")
    assert [conv["peer"]["online"] for conv in await bob.ok("GET", "/api/conversations")] == [True]
    for socket in (a, b):
        await socket.close()


async def test_the_blocked_user_can_neither_edit_nor_react_in_the_direct_conversation(trio):
    """Editing and reacting are writing: the blocked user gets the plain 403 of the send path
    for both, over REST and the socket; nothing changes for the blocker to see."""
    alice, bob, _ = trio
    own = (await direct(bob, alice, "before"))[1]["data"]
    theirs = (await direct(alice, bob, "reply"))[1]["data"]
    await alice.ok("PUT", f"/api/messages/{theirs['id']}/reactions/%F0%9F%91%8D")
    await bob.ok("PUT", f"/api/messages/{own['id']}/reactions/%F0%9F%91%8D")
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    (a,) = await online(alice)
    (b,) = await online(bob)

    refusals = [
        await bob.call("PATCH", f"/api/messages/{own['id']}", json={"content": "after"}),
        await bob.call("PUT", f"/api/messages/{theirs['id']}/reactions/%F0%9F%8E%89"),
        await bob.call("DELETE", f"/api/messages/{own['id']}/reactions/%F0%9F%91%8D"),
    ]
    for status, body in refusals:
        assert (status, body["message"], body["data"]) == (403, "not allowed", None), body
    for frame, payload in (
        ("edit_message", {"message_id": own["id"], "content": "after"}),
        ("add_reaction", {"message_id": theirs["id"], "emoji": "🎉"}),
        ("remove_reaction", {"message_id": own["id"], "emoji": "👍"}),
    ):
        reply = await b.request(frame, payload)
        assert (reply["code"], reply["message"]) == (403, "not allowed"), (frame, reply)
    await a.no_event("message.edited", 0.3)
    assert await take(a, "message.reaction") == []
    history = await alice.ok("GET", f"/api/conversations/{own['conversation_id']}/messages")
    assert [(m["content"], [r["emoji"] for r in m["reactions"]]) for m in history] == [("before", ["👍"]), ("reply", ["👍"])]

    # The blocker still edits and reacts; unblocked, bob does again.
    await alice.ok("PATCH", f"/api/messages/{theirs['id']}", json={"content": "reply, edited"})
    await alice.ok("PUT", f"/api/messages/{own['id']}/reactions/%F0%9F%8E%89")
    await alice.ok("DELETE", f"/api/users/{bob.id}/block")
    await bob.ok("PATCH", f"/api/messages/{own['id']}", json={"content": "after"})
    await bob.ok("PUT", f"/api/messages/{theirs['id']}/reactions/%F0%9F%8E%89")
    for socket in (a, b):
        await socket.close()


async def test_the_blocked_user_sees_the_blocker_offline_in_member_lists(users, trio):
    """Every member list the blocked user reads shows the blocker offline, as the direct peer
    does; the other members still see the blocker online."""
    alice, bob, carol = trio
    dave = await users.make("dave")
    group = await bob.ok("POST", "/api/conversations", json={"type": "group", "name": "club", "member_ids": [alice.id, carol.id]})
    pair = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    (a,) = await online(alice)

    def online_of(members: list[dict]) -> bool:
        (member,) = [member for member in members if member["id"] == alice.id]
        return member["online"]

    async def seen_by(user) -> list[bool]:
        return [
            online_of((await user.ok("GET", f"/api/conversations/{group['id']}"))["members"]),
            online_of(await user.ok("GET", f"/api/conversations/{group['id']}/members")),
            online_of((await user.ok("GET", f"/api/conversations/{pair['id']}"))["members"]) if user is bob else True,
            (await user.ok("GET", f"/api/conversations/{pair['id']}"))["peer"]["online"] if user is bob else True,
        ]

    assert await seen_by(bob) == [True] * 4
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    assert await seen_by(bob) == [False] * 4
    assert await seen_by(carol) == [True] * 4
    added = await bob.ok("POST", f"/api/conversations/{group['id']}/members", json={"user_ids": [dave.id]})
    assert online_of(added) is False
    assert (await bob.ok("PATCH", f"/api/conversations/{group['id']}/members/{alice.id}", json={"role": "admin"}))["online"] is False
    await alice.ok("DELETE", f"/api/users/{bob.id}/block")
    assert await seen_by(bob) == [True] * 4
    assert (await bob.ok("PATCH", f"/api/conversations/{group['id']}/members/{alice.id}", json={"role": "member"}))["online"] is True
    await a.close()


async def test_a_block_answers_word_for_word_as_another_refusal(trio, users):
    """Whether blocked or refused for another reason (here: writing to someone whose account is
    gone), the writer gets the same answer, body and headers alike, on REST and the socket."""
    alice, bob, carol = trio
    dave = await users.make("dave")
    await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    await carol.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": dave.id})
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    assert (await dave.call("DELETE", "/api/users/me", json={"password": PASSWORD}))[0] == 200

    async def refusal(writer, peer) -> tuple[int, dict, set[str], dict]:
        (conversation,) = await writer.ok("GET", "/api/conversations")
        response = await writer.client.post(
            f"/api/conversations/{conversation['id']}/messages", json={"content": "hi"}, headers=writer.auth
        )
        socket = await writer.connect()
        reply = await socket.request("send_message", {"conversation_id": conversation["id"], "content": "hi"})
        await socket.close()
        # The headers' names: their values (date, request id) differ between any two answers.
        return response.status, await response.json(), set(response.headers), {key: reply[key] for key in ("code", "message", "data")}

    blocked, other = await refusal(bob, alice), await refusal(carol, dave)
    assert blocked[0] == 403 and blocked[1]["message"] == "not allowed", blocked
    assert blocked == other
