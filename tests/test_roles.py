"""Group roles and moderation (issue 14 part 9): the owner makes admins, admins remove plain
members and recall their messages (a moderation recall, which names the moderator), and the
owner hands the group over to another member and stays as an admin."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from storage.tables import messages
from tests.chat import online, take

pytestmark = pytest.mark.usefixtures("backend")


async def group_of(users, *names):
    people = [await users.make(name) for name in names]
    owner, rest = people[0], people[1:]
    group = await owner.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [p.id for p in rest]})
    return (*people, group)


def roles_of(members) -> dict[int, str]:
    return {member["id"]: member["role"] for member in members}


async def test_the_owner_makes_and_unmakes_admins_and_every_member_hears_it_once(users):
    alice, bob, carol, dave, group = await group_of(users, "alice", "bob", "carol", "dave")
    gid = group["id"]
    await alice.ok("DELETE", f"/api/conversations/{gid}/members/{dave.id}")
    a1, a2 = await online(alice, 2)
    (b1,), (c1,), (d1,) = await online(bob), await online(carol), await online(dave)
    assert group["role"] == "owner"
    assert roles_of(await bob.ok("GET", f"/api/conversations/{gid}/members")) == {alice.id: "owner", bob.id: "member", carol.id: "member"}

    promoted = await alice.ok("PATCH", f"/api/conversations/{gid}/members/{bob.id}", json={"role": "admin"})
    assert promoted["id"] == bob.id and promoted["role"] == "admin" and promoted["username"] == "bob"
    event = {"conversation_id": gid, "user_id": bob.id, "role": "admin", "by": alice.id}
    for socket in (a1, a2, b1, c1):
        assert await take(socket, "member.updated") == [event]
    assert await take(d1, "member.updated") == []
    assert (await bob.ok("GET", f"/api/conversations/{gid}"))["role"] == "admin"
    listed = {c["id"]: c for c in await bob.ok("GET", "/api/conversations")}
    assert listed[gid]["role"] == "admin"
    assert roles_of((await carol.ok("GET", f"/api/conversations/{gid}"))["members"])[bob.id] == "admin"

    # Again: a retry, nothing pushed.
    assert (await alice.ok("PATCH", f"/api/conversations/{gid}/members/{bob.id}", json={"role": "admin"}))["role"] == "admin"
    assert await take(c1, "member.updated") == []

    # Only the owner; an admin cannot make admins; the owner's own role is not for this route.
    status, body = await bob.call("PATCH", f"/api/conversations/{gid}/members/{carol.id}", json={"role": "admin"})
    assert (status, body["message"]) == (403, "only the group owner may do this")
    status, _ = await carol.call("PATCH", f"/api/conversations/{gid}/members/{carol.id}", json={"role": "admin"})
    assert status == 403
    status, _ = await alice.call("PATCH", f"/api/conversations/{gid}/members/{alice.id}", json={"role": "member"})
    assert status == 403
    # Not members: 404; bad input: 422.
    status, body = await dave.call("PATCH", f"/api/conversations/{gid}/members/{carol.id}", json={"role": "admin"})
    assert (status, body["message"]) == (404, "no such conversation")
    status, body = await alice.call("PATCH", f"/api/conversations/{gid}/members/{dave.id}", json={"role": "admin"})
    assert (status, body["message"]) == (404, "no such member")
    for bad in ({"role": "owner"}, {"role": 1}, {}, {"role": "admin", "x": 1}):
        assert (await alice.call("PATCH", f"/api/conversations/{gid}/members/{carol.id}", json=bad))[0] == 422, bad

    demoted = await alice.ok("PATCH", f"/api/conversations/{gid}/members/{bob.id}", json={"role": "member"})
    assert demoted["role"] == "member"
    assert await take(c1, "member.updated") == [{**event, "role": "member"}]

    # A direct conversation has no owner to make admins.
    direct = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    assert direct["role"] == "member"
    assert (await alice.call("PATCH", f"/api/conversations/{direct['id']}/members/{bob.id}", json={"role": "admin"}))[0] == 403


async def test_an_admin_removes_plain_members_only(users):
    alice, bob, carol, erin, dave, group = await group_of(users, "alice", "bob", "carol", "erin", "dave")
    gid = group["id"]
    await alice.ok("PATCH", f"/api/conversations/{gid}/members/{bob.id}", json={"role": "admin"})
    await alice.ok("PATCH", f"/api/conversations/{gid}/members/{erin.id}", json={"role": "admin"})
    (c1,), (a1,) = await online(carol), await online(alice)

    status, body = await bob.call("DELETE", f"/api/conversations/{gid}/members/{alice.id}")
    assert (status, body["message"]) == (403, "an admin cannot remove the owner or another admin")
    status, _ = await bob.call("DELETE", f"/api/conversations/{gid}/members/{erin.id}")
    assert status == 403
    status, body = await carol.call("DELETE", f"/api/conversations/{gid}/members/{dave.id}")
    assert (status, body["message"]) == (403, "only the owner or an admin can remove other members")
    status, body = await bob.call("DELETE", f"/api/conversations/{gid}/members/999999")
    assert (status, body["message"]) == (404, "no such member")
    assert await take(a1, "member.removed") == []

    await bob.ok("DELETE", f"/api/conversations/{gid}/members/{dave.id}")
    assert [e["user_id"] for e in await take(c1, "member.removed")] == [dave.id]
    # The owner removes an admin; an admin leaves by itself.
    await alice.ok("DELETE", f"/api/conversations/{gid}/members/{erin.id}")
    await bob.ok("DELETE", f"/api/conversations/{gid}/members/{bob.id}")
    assert sorted(m["id"] for m in await alice.ok("GET", f"/api/conversations/{gid}/members")) == sorted([alice.id, carol.id])
    # An ex-admin is a stranger: 404.
    status, body = await bob.call("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    assert (status, body["message"]) == (404, "no such conversation")


async def test_a_moderation_recall_names_the_moderator_and_ignores_the_window(users, engine):
    alice, bob, carol, erin, dave, group = await group_of(users, "alice", "bob", "carol", "erin", "dave")
    gid = group["id"]
    await alice.ok("PATCH", f"/api/conversations/{gid}/members/{bob.id}", json={"role": "admin"})
    await alice.ok("PATCH", f"/api/conversations/{gid}/members/{erin.id}", json={"role": "admin"})
    rude = await carol.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "rude"})
    owners = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "owner's"})
    admins = await erin.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "admin's"})
    async with engine.begin() as conn:  # long past the recall window
        old = (await conn.execute(select(messages.c.created_at).where(messages.c.id == rude["id"]))).scalar_one()
        await conn.execute(update(messages).where(messages.c.id == rude["id"]).values(created_at=old - timedelta(days=30)))
    frank = await users.make("frank")
    recalling, b2 = await online(bob, 2)
    (c1,), (d1,), (f1,) = await online(carol), await online(dave), await online(frank)

    # A plain member cannot; an admin cannot touch the owner's or another admin's messages.
    assert (await (await online(carol))[0].request("recall", {"message_id": owners["id"]}))["code"] == 403
    for message in (owners, admins):
        reply = await recalling.request("recall", {"message_id": message["id"]})
        assert (reply["code"], reply["message"]) == (403, "an admin cannot recall a message of the owner or another admin")
    reply = await f1.request("recall", {"message_id": rude["id"]})
    assert (reply["code"], reply["message"]) == (404, "no such message")

    reply = await recalling.request("recall", {"message_id": rude["id"]})
    assert reply["code"] == 200, reply
    recalled = reply["data"]
    assert recalled["status"] == 3 and recalled["content"] == "" and recalled["recalled_by"] == bob.id and recalled["sender_id"] == carol.id
    event = {"conversation_id": gid, "message_id": rude["id"], "seq": rude["seq"], "change_seq": recalled["change_seq"], "recalled_by": bob.id}
    for socket in (recalling, b2, c1, d1):
        assert await take(socket, "message.recalled") == [event]
    assert await take(f1, "message.recalled") == []
    history = {m["id"]: m for m in await carol.ok("GET", f"/api/conversations/{gid}/messages")}
    assert history[rude["id"]]["recalled_by"] == bob.id and history[rude["id"]]["status"] == 3
    # Again: a retry. The owner recalls an admin's message; its own recall names nobody.
    assert (await recalling.request("recall", {"message_id": rude["id"]}))["data"] == recalled
    assert (await alice.ok("POST", f"/api/messages/{admins['id']}/recall"))["recalled_by"] == alice.id
    own = await alice.ok("POST", f"/api/messages/{owners['id']}/recall")
    assert own["recalled_by"] is None
    assert [e["recalled_by"] for e in await take(c1, "message.recalled")] == [alice.id, None]

    # A member who left is moderated as a plain member; a direct conversation has no moderators.
    later = await carol.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "leaving"})
    await carol.ok("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    assert (await bob.ok("POST", f"/api/messages/{later['id']}/recall"))["recalled_by"] == bob.id
    direct = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    theirs = await bob.ok("POST", f"/api/conversations/{direct['id']}/messages", json={"content": "hi"})
    status, body = await alice.call("POST", f"/api/messages/{theirs['id']}/recall")
    assert (status, body["message"]) == (403, "only the sender can recall a message")


async def test_the_owner_hands_the_group_over_and_stays_as_an_admin(users):
    alice, bob, carol, group = await group_of(users, "alice", "bob", "carol")
    dave = await users.make("dave")
    gid = group["id"]
    a1, (b1,), (c1,), (d1,) = (await online(alice))[0], await online(bob), await online(carol), await online(dave)

    status, body = await bob.call("POST", f"/api/conversations/{gid}/owner", json={"user_id": bob.id})
    assert (status, body["message"]) == (403, "only the group owner may do this")
    status, body = await alice.call("POST", f"/api/conversations/{gid}/owner", json={"user_id": dave.id})
    assert (status, body["message"]) == (404, "no such member")
    status, body = await dave.call("POST", f"/api/conversations/{gid}/owner", json={"user_id": dave.id})
    assert (status, body["message"]) == (404, "no such conversation")
    for bad in ({"user_id": alice.id}, {"user_id": "x"}, {}):
        assert (await alice.call("POST", f"/api/conversations/{gid}/owner", json=bad))[0] == 422, bad
    assert await take(c1, "member.updated") == []

    handed = await alice.ok("POST", f"/api/conversations/{gid}/owner", json={"user_id": bob.id})
    assert handed["owner_id"] == bob.id and handed["role"] == "admin"
    updates = [
        {"conversation_id": gid, "user_id": bob.id, "role": "owner", "by": alice.id},
        {"conversation_id": gid, "user_id": alice.id, "role": "admin", "by": alice.id},
    ]
    for socket, role in ((a1, "admin"), (b1, "owner"), (c1, "member")):
        assert await take(socket, "member.updated") == updates
        (conversation,) = await take(socket, "conversation.updated")
        assert conversation["owner_id"] == bob.id and conversation["role"] == role
    assert await take(d1, "member.updated") == []
    assert roles_of(await carol.ok("GET", f"/api/conversations/{gid}/members")) == {alice.id: "admin", bob.id: "owner", carol.id: "member"}

    # The new owner rules; the old one, now an admin, does not, but may leave.
    assert (await alice.call("PATCH", f"/api/conversations/{gid}", json={"name": "mine"}))[0] == 403
    assert (await bob.ok("PATCH", f"/api/conversations/{gid}", json={"name": "bob's"}))["name"] == "bob's"
    status, _ = await bob.call("DELETE", f"/api/conversations/{gid}/members/{bob.id}")
    assert status == 403
    await alice.ok("DELETE", f"/api/conversations/{gid}/members/{alice.id}")
    assert (await bob.ok("GET", f"/api/conversations/{gid}"))["owner_id"] == bob.id


async def test_the_socket_frames_do_what_the_routes_do(users):
    alice, bob, carol, group = await group_of(users, "alice", "bob", "carol")
    dave = await users.make("dave")
    gid = group["id"]
    (a1, a2), (b1,), (c1,), (d1,) = await online(alice, 2), await online(bob), await online(carol), await online(dave)

    reply = await a1.request("set_member_role", {"conversation_id": gid, "user_id": bob.id, "role": "admin"})
    assert reply["code"] == 200 and reply["data"]["role"] == "admin" and reply["data"]["id"] == bob.id
    event = {"conversation_id": gid, "user_id": bob.id, "role": "admin", "by": alice.id}
    for socket in (a1, a2, b1, c1):
        assert await take(socket, "member.updated") == [event]
    refused = {
        "set_member_role": [
            (b1, {"conversation_id": gid, "user_id": carol.id, "role": "admin"}, 403),
            (d1, {"conversation_id": gid, "user_id": carol.id, "role": "admin"}, 404),
            (a1, {"conversation_id": gid, "user_id": dave.id, "role": "admin"}, 404),
            (a1, {"conversation_id": gid, "user_id": carol.id, "role": "owner"}, 422),
            (a1, {"conversation_id": gid, "role": "admin"}, 422),
        ],
        "transfer_owner": [
            (b1, {"conversation_id": gid, "user_id": bob.id}, 403),
            (d1, {"conversation_id": gid, "user_id": dave.id}, 404),
            (a1, {"conversation_id": gid, "user_id": dave.id}, 404),
            (a1, {"conversation_id": gid, "user_id": alice.id}, 422),
            (a1, {"conversation_id": gid}, 422),
        ],
    }
    for frame, cases in refused.items():
        for socket, data, code in cases:
            assert (await socket.request(frame, data))["code"] == code, (frame, data)
    assert await take(c1, "member.updated") == []

    reply = await a1.request("transfer_owner", {"conversation_id": gid, "user_id": carol.id})
    assert reply["code"] == 200 and reply["data"]["owner_id"] == carol.id and reply["data"]["role"] == "admin"
    assert [e["user_id"] for e in await take(b1, "member.updated")] == [carol.id, alice.id]
    assert [c["owner_id"] for c in await take(a2, "conversation.updated")] == [carol.id]


async def test_plugins_hear_a_moderation_recall_with_the_sender_and_the_moderator(aiohttp_client, settings, engine):
    from tests.chat import UserFactory
    from tests.test_lifecycle_events import client_with, recording_subscriber, until

    subscriber, seen = recording_subscriber()
    factory = UserFactory(await client_with(aiohttp_client, settings, subscriber))
    alice, bob = await factory.make("alice"), await factory.make("bob")
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id]})
    sent = await bob.ok("POST", f"/api/conversations/{group['id']}/messages", json={"content": "spam"})
    await alice.ok("POST", f"/api/messages/{sent['id']}/recall")
    await until(lambda: any(name == "message.recalled" for name, _ in seen))
    (recalled,) = [payload for name, payload in seen if name == "message.recalled"]
    assert (recalled["message_id"], recalled["sender_id"], recalled["recalled_by"]) == (sent["id"], bob.id, alice.id)

    await alice.ok("POST", f"/api/conversations/{group['id']}/owner", json={"user_id": bob.id})
    await until(lambda: any(name == "conversation.updated" for name, _ in seen))
    assert [payload for name, payload in seen if name == "conversation.updated"] == [{"conversation_id": group["id"], "changes": {"owner_id": bob.id}}]
