"""A blocker's presence, as the users they blocked see it (PROTOCOL §3 "Presence and blocks"),
over real HTTP and sockets on MariaDB and SQLite: wherever a UserVO (or a MemberVO, or a
ConversationVO's `peer`) carries `online`, alice, online, shows `online: false` to bob whom she
blocked, as any offline user does, and online to carol; unblocked, online to bob again.
(tests/test_blocks.py covers the profile, the conversation list and the member lists.)"""

from __future__ import annotations

import pytest

from tests.chat import online, take

pytestmark = pytest.mark.usefixtures("backend")


@pytest.fixture
async def trio(users):
    return [await users.make(name) for name in ("alice", "bob", "carol")]


def online_of(user_vos: list[dict], user) -> bool:
    (vo,) = [vo for vo in user_vos if vo["id"] == user.id]
    return vo["online"]


async def test_the_user_directory_shows_the_blocker_offline(trio):
    alice, bob, carol = trio
    (a,) = await online(alice)

    async def seen_by(user) -> bool:
        return online_of(await user.ok("GET", "/api/users", params={"q": "ali"}), alice)

    assert (await seen_by(bob), await seen_by(carol)) == (True, True)
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    assert (await seen_by(bob), await seen_by(carol)) == (False, True)
    # Listed without a prefix too, and alice sees bob as he is.
    assert online_of(await bob.ok("GET", "/api/users"), alice) is False
    (b,) = await online(bob)
    assert online_of(await alice.ok("GET", "/api/users", params={"q": "bob"}), bob) is True
    await alice.ok("DELETE", f"/api/users/{bob.id}/block")
    assert (await seen_by(bob), await seen_by(carol)) == (True, True)
    for socket in (a, b):
        await socket.close()


async def test_readers_show_the_blocker_offline_over_rest_and_the_socket(users, trio):
    alice, bob, carol = trio
    dave = await users.make("dave")
    group = await dave.ok("POST", "/api/conversations", json={"type": "group", "name": "club", "member_ids": [alice.id, bob.id, carol.id]})
    message = await dave.ok("POST", f"/api/conversations/{group['id']}/messages", json={"content": "hello"})
    for reader in (alice, bob, carol):
        await reader.ok("POST", f"/api/conversations/{group['id']}/read", json={"seq": message["seq"]})
    (a,) = await online(alice)
    (b,) = await online(bob)
    (c,) = await online(carol)
    path = f"/api/conversations/{group['id']}/messages/{message['id']}/readers"
    frame = {"conversation_id": group["id"], "message_id": message["id"]}

    async def seen_by(user, socket) -> list[bool]:
        reply = await socket.request("message_readers", frame)
        assert reply["code"] == 200, reply
        return [online_of(await user.ok("GET", path), alice), online_of(reply["data"], alice)]

    assert await seen_by(bob, b) == [True, True]
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    assert await seen_by(bob, b) == [False, False]
    assert await seen_by(carol, c) == [True, True]
    # The other readers keep their presence for bob.
    assert online_of(await bob.ok("GET", path), carol) is True
    await alice.ok("DELETE", f"/api/users/{bob.id}/block")
    assert await seen_by(bob, b) == [True, True]
    for socket in (a, b, c):
        await socket.close()


async def test_a_mutual_block_hides_each_from_the_others_blocked_list(trio):
    """The blocker's own list of whom they block: one who blocked them back shows offline."""
    alice, bob, carol = trio
    (a,) = await online(alice)
    await bob.ok("POST", f"/api/users/{alice.id}/block")
    await carol.ok("POST", f"/api/users/{alice.id}/block")
    assert online_of(await bob.ok("GET", "/api/users/blocked"), alice) is True
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    assert online_of(await bob.ok("GET", "/api/users/blocked"), alice) is False
    assert online_of(await carol.ok("GET", "/api/users/blocked"), alice) is True
    await alice.ok("DELETE", f"/api/users/{bob.id}/block")
    assert online_of(await bob.ok("GET", "/api/users/blocked"), alice) is True
    await a.close()


async def test_a_direct_conversation_the_blocker_starts_shows_them_offline(users, trio):
    """conversation.created, whether the blocker opens the conversation or writes first by
    receiver_id: its `peer` is the blocker offline for the blocked user, online for another."""
    alice, bob, carol = trio
    dave = await users.make("dave")
    (a,) = await online(alice)
    (b,) = await online(bob)
    (c,) = await online(carol)
    (d,) = await online(dave)
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    await alice.ok("POST", f"/api/users/{dave.id}/block")

    opened = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    assert opened["peer"]["id"] == bob.id and opened["peer"]["online"] is True  # alice sees bob as he is
    assert (await b.event("conversation.created"))["data"]["peer"]["online"] is False
    await alice.ok("POST", "/api/messages", json={"receiver_id": dave.id, "content": "hi"})
    assert (await d.event("conversation.created"))["data"]["peer"]["online"] is False
    await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": carol.id})
    assert (await c.event("conversation.created"))["data"]["peer"]["online"] is True

    # A conversation is created once per pair: after an unblock, one with someone else.
    erin = await users.make("erin")
    (e,) = await online(erin)
    await alice.ok("POST", f"/api/users/{erin.id}/block")
    await alice.ok("DELETE", f"/api/users/{erin.id}/block")
    await alice.ok("POST", "/api/messages", json={"receiver_id": erin.id, "content": "hi"})
    assert (await e.event("conversation.created"))["data"]["peer"]["online"] is True
    for socket in (a, b, c, d, e):
        await socket.close()


async def test_the_blocked_users_own_settings_show_the_blocker_offline(trio):
    """PATCH .../settings, the conversation_settings frame and the conversation.updated they
    push to the caller's other sockets: the ConversationVO's `peer` is the blocker offline."""
    alice, bob, carol = trio
    with_bob = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    with_carol = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": carol.id})
    (a,) = await online(alice)
    first, second = await online(bob, 2)
    c, c_other = await online(carol, 2)

    async def seen_by(user, conversation, socket, other, muted: bool) -> list[bool]:
        answer = await user.ok("PATCH", f"/api/conversations/{conversation['id']}/settings", json={"muted": muted})
        reply = await socket.request("conversation_settings", {"conversation_id": conversation["id"], "pinned": muted})
        assert reply["code"] == 200, reply
        # The other socket heard both changes (the frame's own socket, only the first).
        pushed = [event["peer"]["online"] for event in await take(other, "conversation.updated")]
        assert len(pushed) == 2, pushed
        return [answer["peer"]["online"], *pushed, reply["data"]["peer"]["online"]]

    assert await seen_by(bob, with_bob, first, second, True) == [True] * 4
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    assert await seen_by(bob, with_bob, first, second, False) == [False] * 4
    assert await seen_by(carol, with_carol, c, c_other, True) == [True] * 4
    await alice.ok("DELETE", f"/api/users/{bob.id}/block")
    assert await seen_by(bob, with_bob, first, second, True) == [True] * 4
    for socket in (a, first, second, c, c_other):
        await socket.close()


async def test_a_block_is_the_blocker_going_offline_and_an_unblock_coming_back(trio, users):
    """To a blocked user who shares a conversation with the blocker, a block is a `presence`
    event of the blocker going offline, with no last-seen time, and then nothing more of the
    blocker's coming and going; an unblock is the blocker coming back online. Nobody else hears
    of either, and a stranger (no conversation shared) hears nothing."""
    alice, bob, carol = trio
    dave = await users.make("dave")
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})
    await carol.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})
    (b,) = await online(bob)
    (c,) = await online(carol)
    (d,) = await online(dave)
    (a,) = await online(alice)
    for socket in (b, c):
        assert (await socket.event("presence"))["data"] == {"user_id": alice.id, "online": True, "last_seen": None}

    await alice.ok("POST", f"/api/users/{bob.id}/block")
    await alice.ok("POST", f"/api/users/{dave.id}/block")
    await alice.ok("POST", f"/api/users/{bob.id}/block")  # blocked already: nothing new to tell
    assert await take(b, "presence") == [{"user_id": alice.id, "online": False, "last_seen": None}]
    assert await take(c, "presence") == []
    assert await take(d, "presence") == []

    # Her going and coming reach carol, and (announced together) not bob.
    await a.close()
    assert (await c.event("presence"))["data"]["online"] is False
    assert await take(b, "presence") == []
    (a,) = await online(alice)
    assert (await c.event("presence"))["data"]["online"] is True
    assert await take(b, "presence") == []

    await alice.ok("DELETE", f"/api/users/{bob.id}/block")
    await alice.ok("DELETE", f"/api/users/{bob.id}/block")  # not blocked any more: nothing to tell
    await alice.ok("DELETE", f"/api/users/{dave.id}/block")
    assert await take(b, "presence") == [{"user_id": alice.id, "online": True, "last_seen": None}]
    assert await take(c, "presence") == []
    assert await take(d, "presence") == []
    for socket in (a, b, c, d):
        await socket.close()


async def test_a_block_or_unblock_of_an_offline_blocker_tells_nothing(trio):
    alice, bob, _ = trio
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})
    (b,) = await online(bob)
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    await alice.ok("DELETE", f"/api/users/{bob.id}/block")
    assert await take(b, "presence") == []
    await b.close()
