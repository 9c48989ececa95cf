"""A group's own recall window (issue 5 part 5): set by the owner, part of ConversationVO,
enforced by `recall` on the socket and over REST."""

from datetime import timedelta

from sqlalchemy import select, update

from storage.tables import messages


async def group_of_two(users):
    owner, member = await users.make("owner"), await users.make("member")
    group = await owner.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [member.id]})
    return owner, member, group


async def age_message(engine, message_id, seconds):
    async with engine.begin() as conn:
        created = (await conn.execute(select(messages.c.created_at).where(messages.c.id == message_id))).scalar_one()
        await conn.execute(update(messages).where(messages.c.id == message_id).values(created_at=created - timedelta(seconds=seconds)))


async def test_owner_sets_a_longer_window_and_recall_follows_it(users, engine, settings):
    owner, member, group = await group_of_two(users)
    assert group["recall_window_seconds"] == settings.recall_window_seconds
    path = f"/api/conversations/{group['id']}"
    updated = await owner.ok("PATCH", path, json={"recall_window_seconds": 600})
    assert updated["recall_window_seconds"] == 600 and updated["name"] == "g"
    socket = await member.connect()
    sent = (await socket.request("send_message", {"conversation_id": group["id"], "content": "late"}))["data"]
    await age_message(engine, sent["id"], settings.recall_window_seconds + 60)
    assert (await socket.request("recall", {"message_id": sent["id"]}))["code"] == 200
    other = (await socket.request("send_message", {"conversation_id": group["id"], "content": "too late"}))["data"]
    await age_message(engine, other["id"], 601)
    assert (await member.call("POST", f"/api/messages/{other['id']}/recall"))[0] == 403


async def test_zero_switches_recall_off_and_null_restores_the_default(users, settings):
    owner, member, group = await group_of_two(users)
    path = f"/api/conversations/{group['id']}"
    await owner.ok("PATCH", path, json={"recall_window_seconds": 0})
    socket = await owner.connect()
    sent = (await socket.request("send_message", {"conversation_id": group["id"], "content": "x"}))["data"]
    assert (await socket.request("recall", {"message_id": sent["id"]}))["code"] == 403
    restored = await owner.ok("PATCH", path, json={"recall_window_seconds": None})
    assert restored["recall_window_seconds"] == settings.recall_window_seconds
    assert (await socket.request("recall", {"message_id": sent["id"]}))["code"] == 200


async def test_the_window_change_reaches_members(users):
    owner, member, group = await group_of_two(users)
    socket = await member.connect()
    await owner.ok("PATCH", f"/api/conversations/{group['id']}", json={"recall_window_seconds": 30})
    event = await socket.event("conversation.updated")
    assert event["data"]["id"] == group["id"] and event["data"]["recall_window_seconds"] == 30
    listed = {c["id"]: c for c in await member.ok("GET", "/api/conversations")}
    assert listed[group["id"]]["recall_window_seconds"] == 30


async def test_only_the_owner_of_a_group_may_set_it(users):
    owner, member, group = await group_of_two(users)
    path = f"/api/conversations/{group['id']}"
    assert (await member.call("PATCH", path, json={"recall_window_seconds": 10}))[0] == 403
    direct = await owner.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": member.id})
    assert (await owner.call("PATCH", f"/api/conversations/{direct['id']}", json={"recall_window_seconds": 10}))[0] == 403


async def test_bad_windows_are_422(users):
    owner, member, group = await group_of_two(users)
    path = f"/api/conversations/{group['id']}"
    for body in ({"recall_window_seconds": -1}, {"recall_window_seconds": "60"}, {"recall_window_seconds": 7 * 24 * 3600 + 1}, {}):
        status, reply = await owner.call("PATCH", path, json=body)
        assert status == 422, (body, reply)
