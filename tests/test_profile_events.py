"""`user.updated` (PROTOCOL §4): a changed nickname or avatar, and a deleted account's anonymised
profile, reach every socket of the users who share a conversation with the user, once each
whatever the number of conversations shared, and the user's own sockets; nobody else. A user
the changer blocked gets it too, with the changer offline (§2 "Presence and blocks"). Real
sockets on MariaDB."""

from __future__ import annotations

import pytest

from tests.chat import PASSWORD, online, take
from tests.test_files import PNG, form


@pytest.fixture
async def cast(users):
    """alice; bob shares a direct chat and a group with her, carol and eve the group, dan
    nothing; alice blocks eve."""
    alice, bob, carol, dan, eve = [await users.make(name) for name in ("alice", "bob", "carol", "dan", "eve")]
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})
    await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "club", "member_ids": [bob.id, carol.id, eve.id]})
    await dan.ok("POST", "/api/messages", json={"receiver_id": carol.id, "content": "not alice"})
    await alice.ok("POST", f"/api/users/{eve.id}/block")
    return alice, bob, carol, dan, eve


async def profile_events(sockets) -> list[list[dict]]:
    return [await take(socket, "user.updated") for socket in sockets]


async def test_a_rename_and_a_new_avatar_reach_partners_and_own_sockets_once(cast):
    alice, bob, carol, dan, eve = cast
    alice_sockets = await online(alice, 2)
    bob_sockets = await online(bob, 2)
    others = [*await online(carol), *await online(dan), *await online(eve)]

    me = await alice.ok("PATCH", "/api/users/me", json={"nickname": "Ally"})
    assert me["nickname"] == "Ally"
    seen = await bob.ok("GET", f"/api/users/{alice.id}")
    assert seen["nickname"] == "Ally" and seen["online"] is True
    carol_s, dan_s, eve_s = others
    # Bob shares two conversations with her: still one event per socket.
    assert await profile_events([*alice_sockets, *bob_sockets, carol_s]) == [[seen]] * 5
    assert await profile_events([dan_s]) == [[]]
    # Eve, whom alice blocked, learns the name as she would from GET /api/users/{id}: offline.
    assert await profile_events([eve_s]) == [[{**seen, "online": False}]]
    assert await eve.ok("GET", f"/api/users/{alice.id}") == {**seen, "online": False}

    upload = await alice.ok("POST", "/api/files", data=form(PNG, content_type="image/png"))
    await alice.ok("PATCH", "/api/users/me", json={"avatar": upload["url"]})
    pictured = {**seen, "avatar": upload["url"]}
    assert await profile_events([*alice_sockets, *bob_sockets, carol_s]) == [[pictured]] * 5
    assert await profile_events([dan_s, eve_s]) == [[], [{**pictured, "online": False}]]

    # The profile it has already: nothing is pushed.
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Ally", "avatar": upload["url"]})
    assert await profile_events([*alice_sockets, *bob_sockets, *others]) == [[]] * 7
    for socket in [*alice_sockets, *bob_sockets, *others]:
        await socket.close()


async def test_an_offline_user_s_change_shows_them_offline_to_all(cast):
    alice, bob, _, _, eve = cast
    (b,) = await online(bob)
    (e,) = await online(eve)
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Ally"})
    (event,) = await take(b, "user.updated")
    assert event == {"id": alice.id, "username": "alice", "nickname": "Ally", "avatar": None, "online": False}
    assert await take(e, "user.updated") == [event]
    for socket in (b, e):
        await socket.close()


async def test_a_deleted_account_s_partners_see_its_anonymised_profile(cast):
    alice, bob, carol, dan, _ = cast
    sockets = [*await online(bob), *await online(carol), *await online(dan)]
    status, body = await alice.call("DELETE", "/api/users/me", json={"password": PASSWORD})
    assert status == 200, body
    bob_events, carol_events, dan_events = await profile_events(sockets)
    anonymised = {"id": alice.id, "username": f"deleted-{alice.id}", "nickname": "Deleted user", "avatar": None, "online": False}
    assert bob_events == carol_events == [anonymised]
    assert dan_events == []
    assert await bob.ok("GET", f"/api/users/{alice.id}") == anonymised
    for socket in sockets:
        await socket.close()


async def test_the_asyncapi_document_describes_the_event(client):
    doc = await (await client.get("/api/asyncapi.json")).json()
    payload = doc["channels"]["socket"]["messages"]["event.user.updated"]["payload"]
    assert payload["properties"]["type"] == {"const": "user.updated"}
    assert payload["properties"]["data"] == {"$ref": "#/components/schemas/UserVO"}
    assert "UserVO" in doc["components"]["schemas"]
