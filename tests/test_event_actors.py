"""Who did it (issue 14, for the browser client): `by` on the member and conversation events,
so that a client can say "alice added bob", "bob left", "alice renamed the group"."""

import pytest

from tests.chat import online, take

pytestmark = pytest.mark.usefixtures("backend")


async def test_member_and_conversation_events_name_who_acted(users):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    (a1,), (b1,), (c1,) = await online(alice), await online(bob), await online(carol)
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id]})
    gid = group["id"]
    assert "by" not in group
    for socket in (a1, b1):
        (created,) = await take(socket, "conversation.created")
        assert created["id"] == gid and created["by"] == alice.id

    await alice.ok("PATCH", f"/api/conversations/{gid}/members/{bob.id}", json={"role": "admin"})
    added = await alice.ok("POST", f"/api/conversations/{gid}/members", json={"user_ids": [carol.id]})
    assert {m["id"] for m in added} == {alice.id, bob.id, carol.id}
    for socket in (a1, b1, c1):
        assert await take(socket, "member.added") == [{"conversation_id": gid, "user_id": carol.id, "by": alice.id}]
    (created,) = await take(c1, "conversation.created")
    assert created["by"] == alice.id

    renamed = await alice.ok("PATCH", f"/api/conversations/{gid}", json={"name": "h"})
    assert "by" not in renamed
    for socket in (a1, b1, c1):
        (updated,) = await take(socket, "conversation.updated")
        assert (updated["name"], updated["by"]) == ("h", alice.id)

    # An admin removes carol: the event names the admin; leaving names the leaver.
    await bob.ok("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    for socket in (a1, b1, c1):
        assert await take(socket, "member.removed") == [{"conversation_id": gid, "user_id": carol.id, "by": bob.id}]
    await bob.ok("DELETE", f"/api/conversations/{gid}/members/{bob.id}")
    assert await take(a1, "member.removed") == [{"conversation_id": gid, "user_id": bob.id, "by": bob.id}]

    await alice.ok("DELETE", f"/api/conversations/{gid}")
    assert await take(a1, "conversation.deleted") == [{"conversation_id": gid, "by": alice.id}]

    # A direct conversation made by a first message: by its sender.
    await bob.ok("POST", "/api/messages", json={"receiver_id": carol.id, "content": "hi"})
    for socket in (b1, c1):
        (created,) = await take(socket, "conversation.created")
        assert created["type"] == "direct" and created["by"] == bob.id
