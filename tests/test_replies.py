"""Replies (issue 14 part 2): `reply_to` on every send path, a preview of the quoted message in
MessageVO wherever the reply is read or pushed, as the quoted message is now."""

from tests.chat import online, take


async def group_of_three(users):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id, carol.id]})
    return alice, bob, carol, group


def quote_of(message, preview=None, status=1):
    return {
        "id": message["id"],
        "seq": message["seq"],
        "sender_id": message["sender_id"],
        "msg_type": message["msg_type"],
        "status": status,
        "preview": message["content"] if preview is None else preview,
    }


async def test_a_reply_carries_its_quote_in_the_reply_the_push_and_every_read(users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    (alice_socket,), (carol_socket,) = await online(alice, 1), await online(carol, 1)
    original = await bob.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "lunch? " + "x" * 200})
    plain = await carol.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "no reply"})
    assert plain["reply_to"] is None

    reply = await alice_socket.request("send_message", {"conversation_id": gid, "content": "yes", "reply_to": original["id"]})
    assert reply["code"] == 201
    sent = reply["data"]
    assert sent["reply_to"] == quote_of(original, preview=("lunch? " + "x" * 200)[:100])
    assert [frame for frame in await take(carol_socket, "message.new") if frame["id"] == sent["id"]] == [sent]
    assert (await carol.ok("GET", f"/api/conversations/{gid}/messages"))[-1] == sent
    assert (await carol.ok("GET", f"/api/conversations/{gid}"))["last_message"] == sent
    listed = {c["id"]: c for c in await carol.ok("GET", "/api/conversations")}
    assert listed[gid]["last_message"] == sent
    # The quote follows what happens to the quoted message: an edit, then a recall.
    await bob.ok("PATCH", f"/api/messages/{original['id']}", json={"content": "dinner?"})
    assert (await carol.ok("GET", f"/api/conversations/{gid}/messages"))[-1]["reply_to"]["preview"] == "dinner?"
    await bob.ok("POST", f"/api/messages/{original['id']}/recall")
    history = await carol.ok("GET", f"/api/conversations/{gid}/messages")
    assert history[-1]["reply_to"] == quote_of(original, preview="", status=3)
    assert history[0]["content"] == ""


async def test_replies_over_rest_and_to_a_user(users):
    alice, bob, carol, group = await group_of_three(users)
    first = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "hi"})
    answer = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hello", "reply_to": first["id"]})
    assert answer["reply_to"]["id"] == first["id"] and answer["reply_to"]["preview"] == "hi"
    again = await bob.ok("POST", f"/api/conversations/{first['conversation_id']}/messages", json={"content": "+1", "reply_to": answer["id"]})
    assert again["reply_to"]["sender_id"] == bob.id


async def test_a_reply_quotes_only_a_message_of_its_own_conversation(users):
    alice, bob, carol, group = await group_of_three(users)
    elsewhere = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "private"})
    socket = await carol.connect()
    for reply_to in (elsewhere["id"], 987654):
        reply = await socket.request("send_message", {"conversation_id": group["id"], "content": "x", "reply_to": reply_to})
        assert (reply["code"], reply["data"]) == (422, {"errors": {"reply_to": ["no such message in this conversation"]}})
    for reply_to in (0, "1", 1.5):
        assert (await socket.request("send_message", {"conversation_id": group["id"], "content": "x", "reply_to": reply_to}))["code"] == 422
    assert (await alice.ok("GET", f"/api/conversations/{group['id']}"))["last_seq"] == 0
    # A non-member learns nothing from reply_to: the conversation is not found first.
    dave = await users.make("dave")
    status, body = await dave.call("POST", f"/api/conversations/{group['id']}/messages", json={"content": "x", "reply_to": elsewhere["id"]})
    assert (status, body["message"]) == (404, "no such conversation")


async def test_a_resend_matches_on_the_quote_too(users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    one = await bob.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "one"})
    two = await bob.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "two"})
    body = {"content": "sure", "client_msg_id": "c-1", "reply_to": one["id"]}
    status, first = await alice.call("POST", f"/api/conversations/{gid}/messages", json=body)
    assert status == 201
    status, again = await alice.call("POST", f"/api/conversations/{gid}/messages", json=body)
    assert (status, again["data"]) == (200, first["data"])
    assert (await alice.call("POST", f"/api/conversations/{gid}/messages", json={**body, "reply_to": two["id"]}))[0] == 409
    assert (await alice.call("POST", f"/api/conversations/{gid}/messages", json={**body, "reply_to": None}))[0] == 409


async def test_replies_among_a_burst_keep_seq_order_and_push_once(users):
    """Replies are written apart from the group commit of plain messages: the order and the
    once-only delivery hold across the two."""
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    sender = await alice.connect()
    (watcher,) = await online(carol, 1)
    anchor = (await sender.request("send_message", {"conversation_id": gid, "content": "anchor"}))["data"]
    frames = []
    for i in range(20):
        data = {"conversation_id": gid, "content": f"m{i}"}
        if i % 3 == 0:
            data["reply_to"] = anchor["id"]
        frames.append(await sender.send("send_message", data))
    replies = [await sender.reply() for _ in frames]
    assert all(reply["code"] == 201 for reply in replies)
    pushed = await take(watcher, "message.new")
    assert [m["seq"] for m in pushed] == list(range(1, 22))
    assert [m["content"] for m in pushed[1:]] == [f"m{i}" for i in range(20)]
    assert [m["reply_to"] is not None for m in pushed[1:]] == [i % 3 == 0 for i in range(20)]
