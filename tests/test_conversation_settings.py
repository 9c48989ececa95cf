"""Per-member conversation settings (issue 14 part 4): mute, pin to the top of the list and
archive, each member's own, told to the member's other sockets and to nobody else."""

import pytest

from storage import conversations as conversation_store
from storage import users as user_store
from tests.chat import online, take
from tests.test_storage import send


async def group_of_three(users):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id, carol.id]})
    return alice, bob, carol, group


def settings_path(conversation_id: int) -> str:
    return f"/api/conversations/{conversation_id}/settings"


async def test_a_muted_conversation_is_still_delivered_and_the_other_devices_hear_of_it(users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    assert (group["muted"], group["pinned"], group["archived"]) == (False, False, False)
    bob_phone, bob_laptop = await online(bob, 2)
    (alice_socket,) = await online(alice)

    reply = await bob_phone.request("conversation_settings", {"conversation_id": gid, "muted": True})
    assert reply["code"] == 200 and reply["data"]["muted"] is True and reply["data"]["id"] == gid
    assert await take(bob_laptop, "conversation.updated") == [{**reply["data"], "by": bob.id}]
    assert await take(bob_phone, "conversation.updated") == []
    assert await take(alice_socket, "conversation.updated") == []
    assert (await bob.ok("GET", f"/api/conversations/{gid}"))["muted"] is True
    assert (await alice.ok("GET", f"/api/conversations/{gid}"))["muted"] is False

    # The same setting again is a retry: nobody hears of it.
    again = await bob_phone.request("conversation_settings", {"conversation_id": gid, "muted": True})
    assert again["code"] == 200 and again["data"] == reply["data"]
    assert await take(bob_laptop, "conversation.updated") == []

    sent = (await alice_socket.request("send_message", {"conversation_id": gid, "content": "still here?"}))["data"]
    for socket in (bob_phone, bob_laptop):
        assert [m["id"] for m in await take(socket, "message.new")] == [sent["id"]]
    # Over REST every socket of the caller hears it.
    unmuted = await bob.ok("PATCH", settings_path(gid), json={"muted": False})
    assert unmuted["muted"] is False and unmuted["unread_count"] == 1
    for socket in (bob_phone, bob_laptop):
        assert await take(socket, "conversation.updated") == [{**unmuted, "by": bob.id}]


async def test_a_rename_tells_each_member_its_own_settings(users):
    alice, bob, carol, group = await group_of_three(users)
    (bob_socket,), (carol_socket,) = await online(bob), await online(carol)
    await bob.ok("PATCH", settings_path(group["id"]), json={"muted": True, "pinned": True})
    await take(bob_socket, "conversation.updated")
    await alice.ok("PATCH", f"/api/conversations/{group['id']}", json={"name": "renamed"})
    (for_bob,), (for_carol,) = await take(bob_socket, "conversation.updated"), await take(carol_socket, "conversation.updated")
    assert (for_bob["name"], for_bob["muted"], for_bob["pinned"]) == ("renamed", True, True)
    assert (for_carol["name"], for_carol["muted"], for_carol["pinned"]) == ("renamed", False, False)


async def test_pinned_conversations_come_first(users):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    ids = []
    for name in ("one", "two", "three"):
        ids.append((await alice.ok("POST", "/api/conversations", json={"type": "group", "name": name, "member_ids": [bob.id]}))["id"])
    direct = await alice.ok("POST", "/api/messages", json={"receiver_id": carol.id, "content": "hi"})
    newest_first = [direct["conversation_id"], *reversed(ids)]
    assert [c["id"] for c in await alice.ok("GET", "/api/conversations")] == newest_first

    await alice.ok("PATCH", settings_path(ids[0]), json={"pinned": True})
    await alice.ok("PATCH", settings_path(ids[1]), json={"pinned": True})
    listed = await alice.ok("GET", "/api/conversations")
    assert [c["id"] for c in listed] == [ids[1], ids[0], direct["conversation_id"], ids[2]]
    assert [c["pinned"] for c in listed] == [True, True, False, False]
    # Pinned ones keep their own order by activity; bob's list is his own.
    await alice.ok("POST", f"/api/conversations/{ids[0]}/messages", json={"content": "news"})
    assert [c["id"] for c in await alice.ok("GET", "/api/conversations")][:2] == [ids[0], ids[1]]
    assert [c["id"] for c in await bob.ok("GET", "/api/conversations")] == [ids[0], ids[2], ids[1]]
    await alice.ok("PATCH", settings_path(ids[0]), json={"pinned": False})
    assert [c["id"] for c in await alice.ok("GET", "/api/conversations")][:2] == [ids[1], ids[0]]


async def test_an_archived_conversation_is_listed_again_when_a_message_arrives(users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    other = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "other", "member_ids": [bob.id]})
    await carol.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "before"})
    archived = await bob.ok("PATCH", settings_path(gid), json={"archived": True})
    assert archived["archived"] is True
    assert [c["id"] for c in await bob.ok("GET", "/api/conversations")] == [other["id"]]
    everything = await bob.ok("GET", "/api/conversations?include_archived=true")
    assert [(c["id"], c["archived"]) for c in everything] == [(gid, True), (other["id"], False)]
    assert [c["id"] for c in await bob.ok("GET", "/api/conversations?include_archived=false")] == [other["id"]]
    assert (await bob.ok("GET", f"/api/conversations/{gid}"))["archived"] is True
    assert gid in [c["id"] for c in await carol.ok("GET", "/api/conversations")]

    await carol.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "after"})
    listed = await bob.ok("GET", "/api/conversations")
    assert [(c["id"], c["archived"]) for c in listed] == [(gid, False), (other["id"], False)]
    # Archiving again hides it again; unarchiving shows it without a message.
    await bob.ok("PATCH", settings_path(gid), json={"archived": True})
    assert [c["id"] for c in await bob.ok("GET", "/api/conversations")] == [other["id"]]
    await bob.ok("PATCH", settings_path(gid), json={"archived": False})
    assert [c["id"] for c in await bob.ok("GET", "/api/conversations")] == [gid, other["id"]]


async def test_bad_settings_are_refused_in_the_envelope(users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    socket = await alice.connect()
    for body in ({}, {"muted": 1}, {"muted": "true"}, {"pinned": None}, {"archived": True, "name": "x"}):
        status, answer = await alice.call("PATCH", settings_path(gid), json=body)
        assert status == 422 and answer["data"]["errors"], body
        reply = await socket.request("conversation_settings", {"conversation_id": gid, **body})
        assert reply["code"] == 422, body
    assert (await socket.request("conversation_settings", {"muted": True}))["code"] == 422
    for query in ("include_archived=yes", "include_archived=1", "archived=true"):
        assert (await alice.call("GET", f"/api/conversations?{query}"))[0] == 422, query
    assert (await alice.call("PATCH", "/api/conversations/abc/settings", json={"muted": True}))[0] == 404


@pytest.mark.usefixtures("backend")
async def test_the_list_in_storage_orders_pinned_first_and_leaves_archived_out(engine):
    async with engine.begin() as conn:
        alice = (await user_store.insert_user(conn, username="alice", email="a@example.com", password_hash="x", nickname=None)).id
        groups = [(await conversation_store.create_group(conn, owner_id=alice, name=f"g{i}", member_ids=[])).id for i in range(3)]
    for gid in groups:
        await send(engine, gid, alice, "x")
    async with engine.begin() as conn:
        await conversation_store.update_member_settings(conn, groups[0], alice, pinned=1, muted=1)
        await conversation_store.update_member_settings(conn, groups[1], alice, archived_seq=1)
        listed = await conversation_store.list_for_user(conn, alice)
        everything = await conversation_store.list_for_user(conn, alice, include_archived=True)
        settings = await conversation_store.member_settings(conn, groups[0], alice)
    assert [row.id for row in listed] == [groups[0], groups[2]]
    assert [row.id for row in everything] == [groups[0], groups[2], groups[1]]
    assert (settings.muted, settings.pinned, settings.archived_seq) == (1, 1, None)
    await send(engine, groups[1], alice, "y")
    async with engine.connect() as conn:
        assert [row.id for row in await conversation_store.list_for_user(conn, alice)] == [groups[0], groups[1], groups[2]]
