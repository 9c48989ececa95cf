"""Direct conversations and the conversation list over a real server (issue 4, PROTOCOL §2–§3):
opening a direct conversation from either side, the list's order and fields, and the list's
cost not growing with the number of conversations."""

from __future__ import annotations

import asyncio

from sqlalchemy import event

from server.keys import DB, SERVICES
from tests.chat import ChatUser, online, take

CONVERSATION_FIELDS = {
    "id",
    "type",
    "name",
    "owner_id",
    "peer",
    "last_seq",
    "last_read_seq",
    "unread_count",
    "last_message",
    "created_at",
    "updated_at",
}
USER_FIELDS = {"id", "username", "nickname", "avatar", "online"}


async def open_direct(user: ChatUser, peer: ChatUser) -> tuple[int, dict]:
    status, body = await user.call("POST", "/api/conversations", json={"type": "direct", "peer_id": peer.id})
    assert status in (200, 201), body
    return status, body["data"]


async def test_direct_is_one_per_pair_whoever_opens_it(users):
    alice, bob, carol = [await users.make(n) for n in ("alice", "bob", "carol")]
    a1, a2 = await online(alice, 2)
    (b,) = await online(bob)
    (c,) = await online(carol)

    status, first = await open_direct(alice, bob)
    assert status == 201
    assert set(first) >= CONVERSATION_FIELDS
    assert first["type"] == "direct" and first["name"] is None and first["owner_id"] is None
    assert (first["last_seq"], first["last_read_seq"], first["unread_count"], first["last_message"]) == (0, 0, 0, None)
    assert set(first["peer"]) == USER_FIELDS
    assert (first["peer"]["id"], first["peer"]["username"], first["peer"]["online"]) == (bob.id, "bob", True)

    # conversation.created to both users' sockets, each seeing the other as the peer.
    for socket in (a1, a2):
        (created,) = await take(socket, "conversation.created")
        assert created["id"] == first["id"] and created["peer"]["id"] == bob.id
    (created,) = await take(b, "conversation.created")
    assert created["id"] == first["id"] and created["peer"]["id"] == alice.id
    assert await take(c, "conversation.created") == []

    status, again = await open_direct(alice, bob)
    assert (status, again["id"]) == (200, first["id"])
    status, theirs = await open_direct(bob, alice)
    assert (status, theirs["id"]) == (200, first["id"])
    assert theirs["peer"]["id"] == alice.id and theirs["peer"]["online"] is True
    for socket in (a1, b):
        assert await take(socket, "conversation.created") == []  # announced once

    # The first message by receiver_id lands in the same conversation.
    sent = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})
    assert sent["conversation_id"] == first["id"]
    status, after = await open_direct(alice, bob)
    assert (status, after["last_seq"], after["unread_count"], after["last_message"]["content"]) == (200, 1, 1, "hi")

    # Another pair is another conversation.
    status, other = await open_direct(carol, alice)
    assert status == 201 and other["id"] != first["id"]


async def test_direct_refusals(users):
    alice = await users.make("alice")
    bob = await users.make("bob")
    (a,) = await online(alice)

    status, body = await alice.call("POST", "/api/conversations", json={"type": "direct", "peer_id": alice.id})
    assert status == 422 and "peer_id" in body["data"]["errors"], body
    status, body = await alice.call("POST", "/api/conversations", json={"type": "direct", "peer_id": 999999})
    assert (status, body["message"]) == (404, "no such user"), body
    status, body = await alice.call("POST", "/api/conversations", json={"type": "direct"})
    assert status == 422 and "peer_id" in body["data"]["errors"], body
    status, body = await alice.call("POST", "/api/conversations", json={"type": "direct", "peer_id": str(bob.id)})
    assert status == 422, body
    status, body = await alice.call("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id, "name": "us"})
    assert status == 422 and "name" in body["data"]["errors"], body
    status, body = await alice.call("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id, "member_ids": [bob.id]})
    assert status == 422, body
    status, body = await alice.call("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id, "colour": "red"})
    assert status == 422, body
    response = await alice.client.post("/api/conversations", data="not json", headers={**alice.auth, "Content-Type": "application/json"})
    assert response.status == 400, await response.text()
    assert await alice.ok("GET", "/api/conversations") == []
    assert await take(a, "conversation.created") == []


async def test_both_peers_opening_at_once_get_one_conversation(users):
    people = [await users.make(f"user{i}") for i in range(8)]
    pairs = [(people[i], people[i + 1]) for i in range(0, 8, 2)]
    results = await asyncio.gather(*(open_direct(x, y) for a, b in pairs for x, y in ((a, b), (b, a), (a, b))))
    for index in range(len(pairs)):
        trio = results[index * 3 : index * 3 + 3]
        assert len({conv["id"] for _, conv in trio}) == 1, trio
        assert sorted(status for status, _ in trio) == [200, 200, 201], trio
    for a, b in pairs:
        assert len(await a.ok("GET", "/api/conversations")) == 1
        members = await b.ok("GET", f"/api/conversations/{results[pairs.index((a, b)) * 3][1]['id']}/members")
        assert sorted(m["id"] for m in members) == sorted([a.id, b.id])


async def test_list_latest_activity_first_with_fields(users):
    alice, bob, carol = [await users.make(n) for n in ("alice", "bob", "carol")]
    _, with_bob = await open_direct(alice, bob)
    _, with_carol = await open_direct(alice, carol)
    team = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "team", "member_ids": [bob.id, carol.id]})
    solo = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "solo"})

    listed = await alice.ok("GET", "/api/conversations")
    assert [c["id"] for c in listed] == [solo["id"], team["id"], with_carol["id"], with_bob["id"]]

    await bob.ok("POST", f"/api/conversations/{with_bob['id']}/messages", json={"content": "b1"})
    await bob.ok("POST", f"/api/conversations/{with_bob['id']}/messages", json={"content": "b2"})
    await asyncio.sleep(0.01)
    await carol.ok("POST", f"/api/conversations/{team['id']}/messages", json={"content": "c1"})
    await asyncio.sleep(0.01)
    await alice.ok("POST", f"/api/conversations/{team['id']}/messages", json={"content": "a1"})

    listed = await alice.ok("GET", "/api/conversations")
    assert [c["id"] for c in listed] == [team["id"], with_bob["id"], solo["id"], with_carol["id"]]
    by_id = {c["id"]: c for c in listed}
    for conv in listed:
        assert set(conv) >= CONVERSATION_FIELDS
        assert "members" not in conv

    direct = by_id[with_bob["id"]]
    assert (direct["type"], direct["name"], direct["owner_id"]) == ("direct", None, None)
    assert direct["peer"]["id"] == bob.id and set(direct["peer"]) == USER_FIELDS
    assert (direct["last_seq"], direct["last_read_seq"], direct["unread_count"]) == (2, 0, 2)
    assert direct["last_message"]["content"] == "b2" and direct["last_message"]["seq"] == 2

    group = by_id[team["id"]]
    assert (group["type"], group["name"], group["owner_id"], group["peer"]) == ("group", "team", alice.id, None)
    # alice's own message moved her marker past carol's: nothing unread for her.
    assert (group["last_seq"], group["last_read_seq"], group["unread_count"]) == (2, 2, 0)
    assert group["last_message"]["content"] == "a1" and group["last_message"]["sender_id"] == alice.id

    empty = by_id[with_carol["id"]]
    assert (empty["last_seq"], empty["unread_count"], empty["last_message"]) == (0, 0, None)
    assert empty["peer"]["id"] == carol.id and empty["peer"]["online"] is False

    # Each member sees its own marker and count, and its own peer.
    bob_view = {c["id"]: c for c in await bob.ok("GET", "/api/conversations")}
    assert set(bob_view) == {with_bob["id"], team["id"]}
    assert bob_view[with_bob["id"]]["peer"]["id"] == alice.id
    assert (bob_view[with_bob["id"]]["last_read_seq"], bob_view[with_bob["id"]]["unread_count"]) == (2, 0)
    assert (bob_view[team["id"]]["last_read_seq"], bob_view[team["id"]]["unread_count"]) == (0, 2)

    # GET one: the same object plus its members.
    one = await carol.ok("GET", f"/api/conversations/{team['id']}")
    assert set(one) >= CONVERSATION_FIELDS | {"members"}
    assert sorted(m["id"] for m in one["members"]) == sorted([alice.id, bob.id, carol.id])
    assert (one["last_read_seq"], one["unread_count"]) == (1, 1)
    direct_one = await bob.ok("GET", f"/api/conversations/{with_bob['id']}")
    assert direct_one["peer"]["id"] == alice.id and sorted(m["id"] for m in direct_one["members"]) == sorted([alice.id, bob.id])


async def test_list_cost_does_not_grow_with_conversations_or_messages(users, client):
    """The list reads markers, counts and last messages in a fixed number of statements (the
    unread formula), never one query per conversation or a scan of the messages."""
    alice = await users.make("alice")
    others = [await users.make(f"peer{i}") for i in range(8)]
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if not statement.startswith("BEGIN"):  # SQLite's explicit BEGIN IMMEDIATE
            statements.append(statement)

    engine = client.server.app[DB].sync_engine

    async def count_list_statements() -> tuple[int, list[dict]]:
        # The search terms of the messages sent before are written just after them: not the list's.
        await client.server.app[SERVICES].search_indexer.settled()
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            listed = await alice.ok("GET", "/api/conversations")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return len(statements), listed

    _, first = await open_direct(alice, others[0])
    await others[0].ok("POST", f"/api/conversations/{first['id']}/messages", json={"content": "one"})
    small, listed = await count_list_statements()
    assert len(listed) == 1 and listed[0]["unread_count"] == 1

    for peer in others[1:]:
        _, conv = await open_direct(alice, peer)
        for i in range(3):
            await peer.ok("POST", f"/api/conversations/{conv['id']}/messages", json={"content": f"m{i}"})
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [p.id for p in others]})
    for peer in others[:4]:
        await peer.ok("POST", f"/api/conversations/{group['id']}/messages", json={"content": "hello"})
    large, listed = await count_list_statements()
    assert len(listed) == 9
    assert sorted(c["unread_count"] for c in listed) == [1] + [3] * 7 + [4]
    assert large == small, statements
    assert large <= 5, statements
