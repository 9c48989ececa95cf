"""Mentions (issue 14 part 5): `@username` and, in a group, `@all` resolved at send time to
current members, `mentions` in MessageVO wherever the message is read or pushed, and each
member's `mention_count` past its read marker in ConversationVO."""

from sqlalchemy import event

from server.keys import DB
from tests.chat import online, take


async def group_of_three(users):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id, carol.id]})
    return alice, bob, carol, group


async def counts(user):
    return {c["id"]: c["mention_count"] for c in await user.ok("GET", "/api/conversations")}


async def test_mentions_in_the_reply_the_push_and_every_read(users):
    alice, bob, carol, group = await group_of_three(users)
    dave = await users.make("dave")
    gid = group["id"]
    assert group["mention_count"] == 0 and group["mentions_all"] is True
    (carol_socket,) = await online(carol, 1)
    sender = await alice.connect()
    reply = await sender.request(
        "send_message", {"conversation_id": gid, "content": "@BOB, (@carol) @dave @nobody @alice bob@example.com @bob again"}
    )
    assert reply["code"] == 201
    sent = reply["data"]
    assert sent["mentions"] == [bob.id, carol.id]
    assert [m for m in await take(carol_socket, "message.new") if m["id"] == sent["id"]] == [sent]
    plain = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "no one"})
    assert plain["mentions"] == []
    history = await carol.ok("GET", f"/api/conversations/{gid}/messages")
    assert [m["mentions"] for m in history] == [[bob.id, carol.id], []]
    assert history[0] == sent
    assert (await bob.ok("GET", f"/api/conversations/{gid}"))["mention_count"] == 1
    assert await counts(dave) == {}
    # Someone who is not a member hears of nothing and learns nothing.
    status, body = await dave.call("POST", f"/api/conversations/{gid}/messages", json={"content": "@bob hi"})
    assert (status, body["message"]) == (404, "no such conversation")
    assert (await dave.call("GET", f"/api/conversations/{gid}"))[0] == 404
    assert (await alice.ok("GET", f"/api/conversations/{gid}"))["last_seq"] == 2


async def test_mention_count_goes_up_with_mentions_and_down_with_reads_and_recalls(users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    first = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "@bob one"})
    await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "two"})
    third = await carol.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "@bob @alice three"})
    assert await counts(bob) == {gid: 2}
    assert await counts(alice) == {gid: 1}
    assert await counts(carol) == {gid: 0}
    # Reading past a mention clears it; reading up to before it does not.
    await bob.ok("POST", f"/api/conversations/{gid}/read", json={"seq": first["seq"]})
    assert await counts(bob) == {gid: 1}
    # A recalled message's mentions no longer count, nor show.
    await carol.ok("POST", f"/api/messages/{third['id']}/recall")
    assert await counts(bob) == {gid: 0} and await counts(alice) == {gid: 0}
    assert (await bob.ok("GET", f"/api/conversations/{gid}/messages"))[-1]["mentions"] == []
    fourth = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "@bob four"})
    assert await counts(bob) == {gid: 1}
    read = await bob.ok("POST", f"/api/conversations/{gid}/read", json={"seq": fourth["seq"]})
    assert read["unread_count"] == 0
    assert await counts(bob) == {gid: 0}
    # An edit changes the content, not who was mentioned at send time.
    edited = await alice.ok("PATCH", f"/api/messages/{fourth['id']}", json={"content": "four"})
    assert edited["mentions"] == [bob.id]
    assert (await bob.ok("GET", f"/api/conversations/{gid}/messages"))[-1]["mentions"] == [bob.id]


async def test_at_all_follows_the_group_setting(users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    by_bob = await bob.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "@all lunch?"})
    assert by_bob["mentions"] == [alice.id, carol.id]
    # Only the owner changes who may: then only the owner may mention @all.
    assert (await bob.call("PATCH", f"/api/conversations/{gid}", json={"mentions_all": False}))[0] == 403
    assert (await alice.call("PATCH", f"/api/conversations/{gid}", json={"mentions_all": 0}))[0] == 422
    updated = await alice.ok("PATCH", f"/api/conversations/{gid}", json={"mentions_all": False})
    assert updated["mentions_all"] is False
    assert (await bob.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "@all again"}))["mentions"] == []
    assert (await bob.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "@ALL @carol"}))["mentions"] == [carol.id]
    assert (await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "@all: meeting"}))["mentions"] == [bob.id, carol.id]
    # A member who left is no longer mentioned by @all or by name.
    await alice.ok("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    assert (await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "@all @carol"}))["mentions"] == [bob.id]
    # In a direct conversation @all is nobody; the peer by name is mentioned.
    direct = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "@all hi"})
    assert direct["mentions"] == []
    named = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "hi @bob"})
    assert named["mentions"] == [bob.id]
    listed = {c["id"]: c for c in await bob.ok("GET", "/api/conversations")}
    assert listed[direct["conversation_id"]]["mention_count"] == 1
    assert listed[direct["conversation_id"]]["last_message"]["mentions"] == [bob.id]


async def test_mentions_among_a_burst_keep_seq_order_and_push_once(users):
    """Messages with an '@' are written apart from the group commit, as replies are."""
    alice, _, carol, group = await group_of_three(users)
    gid = group["id"]
    sender = await alice.connect()
    (watcher,) = await online(carol, 1)
    frames = [await sender.send("send_message", {"conversation_id": gid, "content": f"m{i}" + (" @carol" if i % 3 == 0 else "")}) for i in range(20)]
    replies = [await sender.reply() for _ in frames]
    assert all(reply["code"] == 201 for reply in replies)
    pushed = await take(watcher, "message.new")
    assert [m["seq"] for m in pushed] == list(range(1, 21))
    assert [m["mentions"] for m in pushed] == [[carol.id] if i % 3 == 0 else [] for i in range(20)]
    assert await counts(carol) == {gid: 7}

async def test_a_page_of_history_and_the_list_read_mentions_in_one_query_each(client, users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    for i in range(12):
        await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": f"@bob @carol m{i}"})
    other = await bob.ok("POST", "/api/conversations", json={"type": "group", "name": "h", "member_ids": [carol.id]})
    await bob.ok("POST", f"/api/conversations/{other['id']}/messages", json={"content": "@carol hi"})
    statements = []

    def count(conn, cursor, statement, *args):
        if "message_mentions" in statement:
            statements.append(statement)

    engine = client.server.app[DB].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = await carol.ok("GET", f"/api/conversations/{gid}/messages?limit=12")
        assert len(statements) == 1
        statements.clear()
        listed = {c["id"]: c["mention_count"] for c in await carol.ok("GET", "/api/conversations")}
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert all(m["mentions"] == [bob.id, carol.id] for m in page)
    assert listed == {gid: 12, other["id"]: 1}
    # One for the counts of every conversation, one for the last messages' mentions.
    assert len(statements) == 2
