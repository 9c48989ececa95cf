"""Groups over a real server with real sockets: lifecycle, membership, their events and who gets
them, fan-out, concurrent senders, leavers, typing and presence (issue 4, PROTOCOL §3–§4).

A push is queued on a socket before the REST answer or socket reply of the action that caused
it, and a socket writes its frames in order; so after a `ping` round trip on a socket, every
push caused by an earlier action is already in `socket.events`. `settle` relies on that to
count events exactly and to prove that an event did not come."""

from __future__ import annotations

import asyncio

import pytest

from tests.chat import ChatUser, Socket, online, settle, take


# --- helpers ---------------------------------------------------------------------------------


async def take_one(socket: Socket, type_: str) -> dict:
    got = await take(socket, type_)
    assert len(got) == 1, (type_, got)
    return got[0]


async def nothing(socket: Socket, type_: str) -> None:
    assert await take(socket, type_) == []
    await socket.no_event(type_, wait=0.05)


async def make_group(owner: ChatUser, members: list[ChatUser], name: str = "team") -> dict:
    status, body = await owner.call("POST", "/api/conversations", json={"type": "group", "name": name, "member_ids": [m.id for m in members]})
    assert status == 201, body
    return body["data"]


async def send(user: ChatUser, conversation_id: int, content: str) -> dict:
    status, body = await user.call("POST", f"/api/conversations/{conversation_id}/messages", json={"content": content})
    assert status == 201, body
    return body["data"]


async def unread(user: ChatUser, conversation_id: int) -> int:
    listed = {c["id"]: c for c in await user.ok("GET", "/api/conversations")}
    return listed[conversation_id]["unread_count"]


@pytest.fixture
def settings(settings, request):
    """The usual test settings, with the changes a test asks for via indirect parametrization."""
    return settings.replace(**getattr(request, "param", {}))


# --- create ----------------------------------------------------------------------------------


async def test_create_group_owner_members_and_created_event(users):
    alice, bob, carol, erin = [await users.make(n) for n in ("alice", "bob", "carol", "erin")]
    dave = await users.make("dave")  # shares nothing with the group
    sockets = {u.username: await online(u, 2) for u in (alice, bob, carol)}
    (d,) = await online(dave)

    group = await make_group(alice, [bob, carol, erin, bob])  # a repeated id counts once
    assert group["type"] == "group" and group["name"] == "team"
    assert group["owner_id"] == alice.id
    assert group["peer"] is None
    assert (group["last_seq"], group["last_read_seq"], group["unread_count"], group["last_message"]) == (0, 0, 0, None)

    for name, pair in sockets.items():
        for socket in pair:
            created = await take_one(socket, "conversation.created")
            assert created["id"] == group["id"] and created["name"] == "team" and created["owner_id"] == alice.id
            assert (created["last_read_seq"], created["unread_count"]) == (0, 0)
    await nothing(d, "conversation.created")

    detail = await bob.ok("GET", f"/api/conversations/{group['id']}")
    assert detail["id"] == group["id"] and detail["type"] == "group"
    online_by_id = {m["id"]: m["online"] for m in detail["members"]}
    assert online_by_id == {alice.id: True, bob.id: True, carol.id: True, erin.id: False}

    members = await erin.ok("GET", f"/api/conversations/{group['id']}/members")
    assert {m["id"]: m["online"] for m in members} == online_by_id
    assert set(members[0]) == {"id", "username", "nickname", "avatar", "online", "role"}

    # The owner is a member with the owner's rights; the group is in every member's list.
    for user in (alice, bob, carol, erin):
        assert group["id"] in {c["id"] for c in await user.ok("GET", "/api/conversations")}
    assert await dave.ok("GET", "/api/conversations") == []


async def test_create_group_validation(users):
    alice = await users.make("alice")
    bob = await users.make("bob")

    status, body = await alice.call("POST", "/api/conversations", json={"type": "group", "name": "x", "member_ids": [bob.id, 999999]})
    assert status == 422 and "member_ids" in body["data"]["errors"], body
    status, body = await alice.call("POST", "/api/conversations", json={"type": "group", "member_ids": [bob.id]})
    assert status == 422 and "name" in body["data"]["errors"], body
    status, body = await alice.call("POST", "/api/conversations", json={"type": "group", "name": "", "member_ids": [bob.id]})
    assert status == 422, body
    status, body = await alice.call("POST", "/api/conversations", json={"type": "group", "name": "x", "member_ids": ["2"]})
    assert status == 422, body
    status, body = await alice.call("POST", "/api/conversations", json={"type": "channel", "name": "x"})
    assert status == 422 and "type" in body["data"]["errors"], body
    status, body = await alice.call("POST", "/api/conversations", json={"type": "group", "name": "x", "peer_id": bob.id})
    assert status == 422, body
    # None of the refused requests created anything.
    assert await alice.ok("GET", "/api/conversations") == []
    assert await bob.ok("GET", "/api/conversations") == []


@pytest.mark.parametrize("settings", [{"group_max_members": 3}], indirect=True)
async def test_group_max_members(users):
    alice, bob, carol, dave = [await users.make(n) for n in ("alice", "bob", "carol", "dave")]
    status, body = await alice.call("POST", "/api/conversations", json={"type": "group", "name": "x", "member_ids": [bob.id, carol.id, dave.id]})
    assert status == 422 and "member_ids" in body["data"]["errors"], body

    group = await make_group(alice, [bob, carol])  # exactly the limit, the owner included
    status, body = await alice.call("POST", f"/api/conversations/{group['id']}/members", json={"user_ids": [dave.id]})
    assert status == 422 and "user_ids" in body["data"]["errors"], body
    assert len(await alice.ok("GET", f"/api/conversations/{group['id']}/members")) == 3


# --- rename and delete -----------------------------------------------------------------------


async def test_rename_owner_only_and_updated_event(users):
    alice, bob, dave = [await users.make(n) for n in ("alice", "bob", "dave")]
    a1, a2 = await online(alice, 2)
    b1, b2 = await online(bob, 2)
    (d,) = await online(dave)
    group = await make_group(alice, [bob])
    gid = group["id"]
    await send(alice, gid, "one")
    await send(alice, gid, "two")

    status, body = await bob.call("PATCH", f"/api/conversations/{gid}", json={"name": "mine"})
    assert status == 403, body
    status, body = await dave.call("PATCH", f"/api/conversations/{gid}", json={"name": "mine"})
    assert status == 404, body
    status, body = await alice.call("PATCH", f"/api/conversations/{gid}", json={"name": ""})
    assert status == 422, body
    status, body = await alice.call("PATCH", f"/api/conversations/{gid}", json={"name": "x", "owner_id": bob.id})
    assert status == 422, body
    for socket in (a1, a2, b1, b2):
        await nothing(socket, "conversation.updated")

    renamed = await alice.ok("PATCH", f"/api/conversations/{gid}", json={"name": "renamed"})
    assert renamed["name"] == "renamed" and renamed["id"] == gid and renamed["last_seq"] == 2

    # Every member's sockets get the conversation as that member sees it.
    for socket in (a1, a2):
        updated = await take_one(socket, "conversation.updated")
        assert (updated["id"], updated["name"], updated["last_seq"]) == (gid, "renamed", 2)
        assert (updated["last_read_seq"], updated["unread_count"]) == (2, 0)
        assert updated["last_message"]["content"] == "two"
    for socket in (b1, b2):
        updated = await take_one(socket, "conversation.updated")
        assert (updated["id"], updated["name"]) == (gid, "renamed")
        assert (updated["last_read_seq"], updated["unread_count"]) == (0, 2)
    await nothing(d, "conversation.updated")
    assert (await bob.ok("GET", f"/api/conversations/{gid}"))["name"] == "renamed"


async def test_delete_owner_only_and_deleted_event(users):
    alice, bob, carol, dave = [await users.make(n) for n in ("alice", "bob", "carol", "dave")]
    a1, a2 = await online(alice, 2)
    b1, b2 = await online(bob, 2)
    (c,) = await online(carol)
    (d,) = await online(dave)
    group = await make_group(alice, [bob, carol])
    gid = group["id"]
    await send(bob, gid, "hello")
    assert len(await take(a1, "message.new")) == 1

    status, body = await bob.call("DELETE", f"/api/conversations/{gid}")
    assert status == 403, body
    status, body = await dave.call("DELETE", f"/api/conversations/{gid}")
    assert status == 404, body
    for socket in (a1, b1, c):
        await nothing(socket, "conversation.deleted")

    status, body = await alice.call("DELETE", f"/api/conversations/{gid}")
    assert (status, body["data"]) == (200, None), body
    for socket in (a1, a2, b1, b2, c):
        assert await take_one(socket, "conversation.deleted") == {"conversation_id": gid, "by": alice.id}
    await nothing(d, "conversation.deleted")

    for user in (alice, bob, carol):
        assert gid not in {conv["id"] for conv in await user.ok("GET", "/api/conversations")}
        status, body = await user.call("GET", f"/api/conversations/{gid}")
        assert (status, body["message"]) == (404, "no such conversation"), body
        status, _ = await user.call("GET", f"/api/conversations/{gid}/messages")
        assert status == 404
    reply = await b1.request("send_message", {"conversation_id": gid, "content": "anyone?"})
    assert reply["code"] == 404, reply
    await nothing(a1, "message.new")


async def test_direct_conversation_has_no_owner_operations(users):
    alice, bob, carol = [await users.make(n) for n in ("alice", "bob", "carol")]
    direct = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    did = direct["id"]
    for method, path, body in (
        ("PATCH", f"/api/conversations/{did}", {"name": "x"}),
        ("DELETE", f"/api/conversations/{did}", None),
        ("POST", f"/api/conversations/{did}/members", {"user_ids": [carol.id]}),
        ("DELETE", f"/api/conversations/{did}/members/{bob.id}", None),
        ("DELETE", f"/api/conversations/{did}/members/{alice.id}", None),
    ):
        status, answer = await alice.call(method, path, json=body)
        assert status == 403, (method, path, answer)
    members = await bob.ok("GET", f"/api/conversations/{did}/members")
    assert sorted(m["id"] for m in members) == sorted([alice.id, bob.id])
    assert (await bob.ok("GET", f"/api/conversations/{did}"))["name"] is None


# --- membership ------------------------------------------------------------------------------


async def test_add_members_owner_only_marker_history_and_events(users):
    alice, bob, carol, dave, erin = [await users.make(n) for n in ("alice", "bob", "carol", "dave", "erin")]
    a1, a2 = await online(alice, 2)
    b1, b2 = await online(bob, 2)
    c1, c2 = await online(carol, 2)
    (d,) = await online(dave)
    group = await make_group(alice, [bob])
    gid = group["id"]
    for socket in (a1, a2, b1, b2):
        await take_one(socket, "conversation.created")
    for text in ("one", "two", "three"):
        await send(bob, gid, text)

    status, body = await bob.call("POST", f"/api/conversations/{gid}/members", json={"user_ids": [carol.id]})
    assert status == 403, body
    status, body = await dave.call("POST", f"/api/conversations/{gid}/members", json={"user_ids": [dave.id]})
    assert status == 404, body
    status, body = await alice.call("POST", f"/api/conversations/{gid}/members", json={"user_ids": [carol.id, 999999]})
    assert status == 422 and "user_ids" in body["data"]["errors"], body
    status, body = await alice.call("POST", f"/api/conversations/{gid}/members", json={"user_ids": []})
    assert status == 422, body
    for socket in (a1, b1, c1):
        await nothing(socket, "member.added")
    await nothing(c1, "conversation.created")

    all_members = await alice.ok("POST", f"/api/conversations/{gid}/members", json={"user_ids": [carol.id, erin.id, bob.id]})
    assert sorted(m["id"] for m in all_members) == sorted([alice.id, bob.id, carol.id, erin.id])
    assert {m["id"]: m["online"] for m in all_members}[carol.id] is True

    for socket in (a1, a2, b1, b2, c1, c2):
        added = await take(socket, "member.added")
        assert sorted(event["user_id"] for event in added) == sorted([carol.id, erin.id])
        assert {event["conversation_id"] for event in added} == {gid}
    for socket in (c1, c2):
        created = await take_one(socket, "conversation.created")
        assert created["id"] == gid
        assert (created["last_seq"], created["last_read_seq"], created["unread_count"]) == (3, 3, 0)
    for socket in (a1, b1):
        await nothing(socket, "conversation.created")
    await nothing(d, "member.added")
    await nothing(d, "conversation.created")

    # The new member starts with nothing unread but sees the whole history.
    listed = {conv["id"]: conv for conv in await carol.ok("GET", "/api/conversations")}[gid]
    assert (listed["last_seq"], listed["last_read_seq"], listed["unread_count"]) == (3, 3, 0)
    assert listed["last_message"]["content"] == "three"
    assert [m["content"] for m in await carol.ok("GET", f"/api/conversations/{gid}/messages")] == ["one", "two", "three"]
    reply = await c1.request("history", {"conversation_id": gid, "after": 0})
    assert [m["seq"] for m in reply["data"]] == [1, 2, 3]

    # From now on the new member gets the group's messages and counts them.
    await send(bob, gid, "welcome")
    for socket in (c1, c2):
        assert [m["content"] for m in await take(socket, "message.new")] == ["welcome"]
    assert await unread(carol, gid) == 1

    # Adding someone who is already a member changes nothing and announces nothing.
    again = await alice.ok("POST", f"/api/conversations/{gid}/members", json={"user_ids": [carol.id]})
    assert len(again) == 4
    for socket in (a1, c1):
        await nothing(socket, "member.added")
    await nothing(c1, "conversation.created")


async def test_remove_and_leave_rules_and_events(users):
    alice, bob, carol, erin, dave = [await users.make(n) for n in ("alice", "bob", "carol", "erin", "dave")]
    a1, a2 = await online(alice, 2)
    b1, b2 = await online(bob, 2)
    c1, c2 = await online(carol, 2)
    (e,) = await online(erin)
    (d,) = await online(dave)
    group = await make_group(alice, [bob, carol, erin])
    gid = group["id"]
    for socket in (a1, a2, b1, b2, c1, c2, e):
        await take_one(socket, "conversation.created")

    # A member may not remove someone else; an outsider may not know the group exists.
    status, body = await bob.call("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    assert status == 403, body
    status, body = await bob.call("DELETE", f"/api/conversations/{gid}/members/{alice.id}")
    assert status == 403, body
    status, body = await dave.call("DELETE", f"/api/conversations/{gid}/members/{dave.id}")
    assert (status, body["message"]) == (404, "no such conversation"), body
    # The owner cannot leave (the group would have no owner): delete it instead.
    status, body = await alice.call("DELETE", f"/api/conversations/{gid}/members/{alice.id}")
    assert status == 403 and "delete" in body["message"], body
    # Removing someone who is not a member.
    status, body = await alice.call("DELETE", f"/api/conversations/{gid}/members/{dave.id}")
    assert status == 404, body
    for socket in (a1, b1, c1, e):
        await nothing(socket, "member.removed")

    # bob leaves: everyone's sockets hear it, his own included.
    status, body = await bob.call("DELETE", f"/api/conversations/{gid}/members/{bob.id}")
    assert (status, body["data"]) == (200, None), body
    for socket in (a1, a2, b1, b2, c1, c2, e):
        assert await take_one(socket, "member.removed") == {"conversation_id": gid, "user_id": bob.id, "by": bob.id}
    await nothing(d, "member.removed")

    # The owner removes carol: the remaining members and carol hear it, bob (gone) does not.
    status, body = await alice.call("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    assert status == 200, body
    for socket in (a1, a2, c1, c2, e):
        assert await take_one(socket, "member.removed") == {"conversation_id": gid, "user_id": carol.id, "by": alice.id}
    for socket in (b1, b2, d):
        await nothing(socket, "member.removed")

    members = await alice.ok("GET", f"/api/conversations/{gid}/members")
    assert sorted(m["id"] for m in members) == sorted([alice.id, erin.id])
    for gone in (bob, carol):
        assert gid not in {conv["id"] for conv in await gone.ok("GET", "/api/conversations")}
        status, _ = await gone.call("DELETE", f"/api/conversations/{gid}/members/{gone.id}")
        assert status == 404  # leaving twice: no longer a member

    # Nothing more reaches the ones who are gone: messages, renames, new members, typing.
    await send(alice, gid, "after")
    await alice.ok("PATCH", f"/api/conversations/{gid}", json={"name": "smaller"})
    await alice.ok("POST", f"/api/conversations/{gid}/members", json={"user_ids": [dave.id]})
    assert (await e.request("typing", {"conversation_id": gid}))["code"] == 200
    for socket in (b1, b2, c1, c2):
        for event in ("message.new", "conversation.updated", "member.added", "typing"):
            await nothing(socket, event)
    assert [m["content"] for m in await take(e, "message.new")] == ["after"]
    assert (await take_one(d, "conversation.created"))["name"] == "smaller"

    # A removed member can be added back; the marker starts at the current last_seq.
    await alice.ok("POST", f"/api/conversations/{gid}/members", json={"user_ids": [bob.id]})
    created = await take_one(b1, "conversation.created")
    assert (created["last_read_seq"], created["unread_count"]) == (1, 0)


async def test_leaver_gets_nothing_more_and_is_refused_over_rest_and_socket(users):
    alice, bob, carol = [await users.make(n) for n in ("alice", "bob", "carol")]
    (a,) = await online(alice)
    b1, b2 = await online(bob, 2)
    (c,) = await online(carol)
    group = await make_group(alice, [bob, carol])
    gid = group["id"]
    first = await send(alice, gid, "before")
    for socket in (a, b1, b2, c):  # sent over REST: all of the sender's sockets get it too
        assert len(await take(socket, "message.new")) == 1

    await bob.ok("DELETE", f"/api/conversations/{gid}/members/{bob.id}")  # leave
    await alice.ok("DELETE", f"/api/conversations/{gid}/members/{carol.id}")  # removed

    for gone, socket in ((bob, b1), (carol, c)):
        status, body = await gone.call("GET", f"/api/conversations/{gid}/messages")
        assert (status, body["message"]) == (404, "no such conversation"), body
        status, body = await gone.call("POST", f"/api/conversations/{gid}/messages", json={"content": "still here?"})
        assert (status, body["message"]) == (404, "no such conversation"), body
        status, body = await gone.call("POST", f"/api/conversations/{gid}/read", json={"seq": 1})
        assert status == 404, body
        reply = await socket.request("history", {"conversation_id": gid})
        assert (reply["code"], reply["message"]) == (404, "no such conversation"), reply
        reply = await socket.request("send_message", {"conversation_id": gid, "content": "still here?"})
        assert (reply["code"], reply["message"]) == (404, "no such conversation"), reply
        reply = await socket.request("mark_read", {"conversation_id": gid, "seq": 1})
        assert reply["code"] == 404, reply
        reply = await socket.request("typing", {"conversation_id": gid})
        assert reply["code"] == 404, reply
    # Nothing they tried reached the group.
    assert [m["seq"] for m in await alice.ok("GET", f"/api/conversations/{gid}/messages")] == [first["seq"]]
    for event in ("message.new", "message.read", "typing"):
        await nothing(a, event)

    second = await alice.call("POST", f"/api/conversations/{gid}/messages", json={"content": "after"})
    assert second[0] == 201
    reply = await a.request("send_message", {"conversation_id": gid, "content": "after, by socket"})
    assert reply["code"] == 201
    await alice.ok("POST", f"/api/conversations/{gid}/read", json={"seq": 3})
    for socket in (b1, b2, c):
        for event in ("message.new", "message.read", "message.recalled"):
            await nothing(socket, event)


# --- fan-out ---------------------------------------------------------------------------------


async def test_fan_out_every_socket_of_every_member_once(users):
    members = [await users.make(f"user{i}") for i in range(6)]
    outsider = await users.make("outsider")
    sockets = {user.id: await online(user, 2) for user in members}
    (o,) = await online(outsider)
    group = await make_group(members[0], members[1:])
    gid = group["id"]

    sent = []  # (sender id, sending socket, seq)
    for round_ in range(2):
        for user in members:
            origin = sockets[user.id][round_ % 2]
            reply = await origin.request("send_message", {"conversation_id": gid, "content": f"{user.username} {round_}"})
            assert reply["code"] == 201, reply
            sent.append((user.id, origin, reply["data"]["seq"]))
    assert sorted(seq for _, _, seq in sent) == list(range(1, 13))

    for user in members:
        for socket in sockets[user.id]:
            got = [m["seq"] for m in await take(socket, "message.new")]
            expected = [seq for _, origin, seq in sent if origin is not socket]
            assert got == expected, (user.username, got, expected)  # each once, in seq order
    await nothing(o, "message.new")


async def test_concurrent_senders_get_gapless_seqs_and_everyone_gets_each_once(users):
    senders = [await users.make(f"sender{i}") for i in range(10)]
    sockets = {user.id: await online(user, 2) for user in senders}
    group = await make_group(senders[0], senders[1:])
    gid = group["id"]
    per_sender = 5

    async def burst(user: ChatUser) -> list[dict]:
        socket = sockets[user.id][0]
        frame_ids = [await socket.send("send_message", {"conversation_id": gid, "content": f"{user.username}-{i}"}) for i in range(per_sender)]
        replies = [await socket.reply(timeout=20) for _ in frame_ids]
        assert [r["id"] for r in replies] == frame_ids  # one reply per frame, in order
        return replies

    results = await asyncio.gather(*(burst(user) for user in senders))
    replies = [reply for result in results for reply in result]
    assert all(reply["code"] == 201 for reply in replies), [r for r in replies if r["code"] != 201]
    total = len(senders) * per_sender
    seqs = sorted(reply["data"]["seq"] for reply in replies)
    assert seqs == list(range(1, total + 1))

    content_by_seq = {reply["data"]["seq"]: reply["data"]["content"] for reply in replies}
    for user in senders:
        sending, other = sockets[user.id]
        own = {reply["data"]["seq"] for reply in results[senders.index(user)]}
        pushed_to_sending = [m["seq"] for m in await take(sending, "message.new")]
        assert sorted(pushed_to_sending) == sorted(set(range(1, total + 1)) - own)
        assert len(pushed_to_sending) == len(set(pushed_to_sending))
        pushed_to_other = await take(other, "message.new")
        assert sorted(m["seq"] for m in pushed_to_other) == list(range(1, total + 1))
        assert all(content_by_seq[m["seq"]] == m["content"] for m in pushed_to_other)

    history = await senders[3].ok("GET", f"/api/conversations/{gid}/messages?limit=100")
    assert [m["seq"] for m in history] == list(range(1, total + 1))
    # A sender's marker is at its own last message; what came after it is unread.
    for user, result in zip(senders, results):
        listed = {conv["id"]: conv for conv in await user.ok("GET", "/api/conversations")}[gid]
        last_own = max(reply["data"]["seq"] for reply in result)
        assert (listed["last_seq"], listed["last_read_seq"], listed["unread_count"]) == (total, last_own, total - last_own)


# --- typing and presence ---------------------------------------------------------------------


async def test_typing_goes_to_the_other_members_only(users):
    alice, bob, carol, dave = [await users.make(n) for n in ("alice", "bob", "carol", "dave")]
    a1, a2 = await online(alice, 2)
    b1, b2 = await online(bob, 2)
    (c,) = await online(carol)
    (d,) = await online(dave)
    group = await make_group(alice, [bob, carol])
    gid = group["id"]

    reply = await a1.request("typing", {"conversation_id": gid})
    assert (reply["code"], reply["data"]) == (200, None), reply
    for socket in (b1, b2, c):
        assert await take_one(socket, "typing") == {"conversation_id": gid, "user_id": alice.id}
    for socket in (a1, a2, d):
        await nothing(socket, "typing")

    reply = await d.request("typing", {"conversation_id": gid})
    assert (reply["code"], reply["message"]) == (404, "no such conversation"), reply
    for socket in (a1, b1, c):
        await nothing(socket, "typing")
    # Nothing is stored.
    assert (await alice.ok("GET", f"/api/conversations/{gid}"))["last_seq"] == 0


async def presence_of(socket: Socket, user: ChatUser, timeout: float = 5) -> dict:
    """The next presence event about `user` (presence is announced in the background, so it is
    waited for rather than ordered by a ping); presence of others is dropped."""
    while True:
        data = (await socket.event("presence", timeout=timeout))["data"]
        if data["user_id"] == user.id:
            return data


async def test_presence_goes_to_users_sharing_a_conversation(users):
    alice, bob, carol, dave, erin = [await users.make(n) for n in ("alice", "bob", "carol", "dave", "erin")]
    await make_group(alice, [bob])  # alice shares a group with bob
    await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": carol.id})  # and a direct one with carol
    await make_group(dave, [erin])  # dave and erin share nothing with alice
    (b,) = await online(bob)
    (c,) = await online(carol)
    (d,) = await online(dave)
    (e,) = await online(erin)
    assert (await presence_of(d, erin))["online"] is True
    await asyncio.sleep(0.2)
    for socket in (b, c, d, e):
        await take(socket, "presence")

    a1, a2 = await online(alice, 2)
    for socket in (b, c):
        assert await presence_of(socket, alice) == {"user_id": alice.id, "online": True, "last_seen": None}
    # One announcement, delivered to the whole audience at once: by now the others have theirs.
    for socket in (b, c, d, e):
        await socket.no_event("presence")  # once for alice's first socket, not for her second
    await a1.close()
    for socket in (b, c):
        await socket.no_event("presence")  # alice still has a socket
    await a2.close()
    for socket in (b, c):
        presence = await presence_of(socket, alice)
        assert presence["online"] is False and isinstance(presence["last_seen"], int)
    for socket in (d, e):
        await socket.no_event("presence")


async def test_concurrent_senders_pushes_arrive_in_seq_order(users):
    """A client that has seen seq N catches up with after=N (PROTOCOL §2), so pushes of one
    conversation must reach each socket in seq order, or a reconnect can skip a message."""
    senders = [await users.make(f"sender{i}") for i in range(10)]
    listeners = {user.id: (await online(user, 2)) for user in senders}
    group = await make_group(senders[0], senders[1:])
    gid = group["id"]

    async def burst(user: ChatUser) -> None:
        socket = listeners[user.id][0]
        frame_ids = [await socket.send("send_message", {"conversation_id": gid, "content": f"{user.username}-{i}"}) for i in range(5)]
        for _ in frame_ids:
            assert (await socket.reply(timeout=20))["code"] == 201

    await asyncio.gather(*(burst(user) for user in senders))
    for user in senders:
        seqs = [m["seq"] for m in await take(listeners[user.id][1], "message.new")]
        assert len(seqs) == 50
        assert seqs == sorted(seqs), seqs
