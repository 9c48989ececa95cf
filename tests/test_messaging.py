"""Direct messaging over the socket and REST: the message path's guarantees (issue 3 §6, §7)."""

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from server.keys import SERVICES
from storage.tables import messages


async def direct_pair(users):
    alice, bob = await users.make("alice"), await users.make("bob")
    return alice, bob, await alice.connect(), await bob.connect()


async def test_message_is_committed_before_the_reply(users, engine):
    alice, bob, a, b = await direct_pair(users)
    reply = await a.request("send_message", {"receiver_id": bob.id, "content": "hi"})
    assert reply["code"] == 201
    message = reply["data"]
    # Read through a separate connection: the row is visible as soon as the reply is.
    async with engine.connect() as conn:
        row = (await conn.execute(select(messages).where(messages.c.id == message["id"]))).one()
    assert (row.content, row.seq, row.sender_id, row.receiver_id) == ("hi", 1, alice.id, bob.id)
    assert message["receiver_id"] == bob.id and message["status"] == 1 and message["msg_type"] == 1
    assert isinstance(message["created_at"], int) and message["created_at"] > 1_600_000_000_000


async def test_push_reaches_every_device_but_the_sending_socket(users):
    alice, bob, a, b = await direct_pair(users)
    a2, b2 = await alice.connect(), await bob.connect()
    reply = await a.request("send_message", {"receiver_id": bob.id, "content": "to all devices"})
    for socket in (a2, b, b2):
        event = await socket.event("message.new")
        assert event["data"] == reply["data"]
        assert "id" not in event
    await a.no_event("message.new")


async def test_client_msg_id_resend_returns_the_original_and_pushes_nothing(users):
    alice, bob, a, b = await direct_pair(users)
    frame = {"receiver_id": bob.id, "content": "once", "client_msg_id": "c-1"}
    first = await a.request("send_message", frame)
    again = await a.request("send_message", frame)
    assert (first["code"], again["code"]) == (201, 200)
    assert again["data"] == first["data"]
    await b.event("message.new")
    await b.no_event("message.new")
    # REST is the same send path: the same client id is recognized there too.
    status, body = await alice.call("POST", "/api/messages", json=frame)
    assert status == 200 and body["data"]["id"] == first["data"]["id"]
    history = await bob.ok("GET", f"/api/conversations/{first['data']['conversation_id']}/messages")
    assert [m["content"] for m in history] == ["once"]


async def test_client_msg_id_reused_for_other_content_or_conversation_is_409(users):
    alice, bob, a, b = await direct_pair(users)
    carol = await users.make("carol")
    await a.request("send_message", {"receiver_id": bob.id, "content": "one", "client_msg_id": "c-1"})
    other_content = await a.request("send_message", {"receiver_id": bob.id, "content": "two", "client_msg_id": "c-1"})
    other_peer = await a.request("send_message", {"receiver_id": carol.id, "content": "one", "client_msg_id": "c-1"})
    assert other_content["code"] == 409 and other_peer["code"] == 409
    # Another sender may use the same client id freely.
    theirs = await b.request("send_message", {"receiver_id": alice.id, "content": "one", "client_msg_id": "c-1"})
    assert theirs["code"] == 201


async def test_racing_resends_store_one_message(users, engine):
    alice, bob, a, b = await direct_pair(users)
    sockets = [a] + [await alice.connect() for _ in range(4)]
    frame = {"receiver_id": bob.id, "content": "raced", "client_msg_id": "race-1"}
    replies = await asyncio.gather(*(s.request("send_message", frame) for s in sockets))
    assert sorted(r["code"] for r in replies) == [200, 200, 200, 200, 201]
    assert len({r["data"]["id"] for r in replies}) == 1
    async with engine.connect() as conn:
        count = len((await conn.execute(select(messages.c.id).where(messages.c.client_msg_id == "race-1"))).all())
    assert count == 1
    await b.event("message.new")
    await b.no_event("message.new")


async def test_resend_after_restart_is_recognized(aiohttp_client, settings, engine, users):
    from server.app import create_app
    from tests.chat import ChatUser

    alice, bob, a, b = await direct_pair(users)
    frame = {"receiver_id": bob.id, "content": "durable", "client_msg_id": "restart-1"}
    first = await a.request("send_message", frame)
    restarted = await aiohttp_client(create_app(settings))
    alice_again = ChatUser(restarted, alice.id, alice.username, alice.token)
    socket = await alice_again.connect()
    again = await socket.request("send_message", frame)
    assert again["code"] == 200 and again["data"]["id"] == first["data"]["id"]


async def test_concurrent_senders_get_gapless_seqs_and_each_socket_every_message_once(users):
    alice, bob, a, b = await direct_pair(users)
    senders = [a, await alice.connect(), b, await bob.connect()]
    listener_a, listener_b = await alice.connect(), await bob.connect()
    per_socket = 10

    async def burst(socket, tag):
        return [await socket.request("send_message", {"receiver_id": bob.id if socket in senders[:2] else alice.id, "content": f"{tag}-{i}"}) for i in range(per_socket)]

    results = await asyncio.gather(*(burst(s, n) for n, s in enumerate(senders)))
    seqs = sorted(r["data"]["seq"] for replies in results for r in replies)
    total = per_socket * len(senders)
    assert seqs == list(range(1, total + 1))
    for listener in (listener_a, listener_b):
        got = [(await listener.event("message.new"))["data"]["seq"] for _ in range(total)]
        assert sorted(got) == list(range(1, total + 1))
        await listener.no_event("message.new")


async def test_history_pages_before_and_after(users):
    alice, bob, a, b = await direct_pair(users)
    for i in range(1, 8):
        reply = await a.request("send_message", {"receiver_id": bob.id, "content": f"m{i}"})
    conversation_id = reply["data"]["conversation_id"]
    path = f"/api/conversations/{conversation_id}/messages"

    def seqs(page):
        return [m["seq"] for m in page]

    assert seqs(await bob.ok("GET", path, params={"limit": "3"})) == [5, 6, 7]
    assert seqs(await bob.ok("GET", path, params={"before": "5", "limit": "3"})) == [2, 3, 4]
    assert seqs(await bob.ok("GET", path, params={"before": "2", "limit": "3"})) == [1]
    assert seqs(await bob.ok("GET", path, params={"after": "2", "limit": "3"})) == [3, 4, 5]
    assert seqs(await bob.ok("GET", path, params={"after": "7"})) == []
    over_socket = await b.request("history", {"conversation_id": conversation_id, "after": 4, "limit": 2})
    assert over_socket["code"] == 200 and seqs(over_socket["data"]) == [5, 6]
    too_many = await b.request("history", {"conversation_id": conversation_id, "limit": 101})
    assert too_many["code"] == 422 and "limit" in too_many["data"]["errors"]
    status, body = await bob.call("GET", path, params={"before": "3", "after": "1"})
    assert status == 422


async def test_history_pages_hold_the_contracts_50_by_default(users, settings):
    """PROTOCOL §3: `limit` (≤100, default 50), on REST and on the socket alike."""
    alice, bob, a, b = await direct_pair(users)
    conversation = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    path = f"/api/conversations/{conversation['id']}/messages"
    for i in range(1, 52):
        await alice.ok("POST", path, json={"content": f"m{i}"})
    assert [m["seq"] for m in await bob.ok("GET", path)] == list(range(2, 52))
    over_socket = await b.request("history", {"conversation_id": conversation["id"]})
    assert over_socket["code"] == 200 and [m["seq"] for m in over_socket["data"]] == list(range(2, 52))
    assert settings.history_max_limit == 100
    assert len(await bob.ok("GET", path, params={"limit": "100"})) == 51


async def test_the_history_service_pages_50_by_default_for_plugins_too(users, client):
    """Plugins call the service (ctx.services.messaging.history) with no limit."""
    alice, bob, a, b = await direct_pair(users)
    conversation = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    for i in range(1, 52):
        await alice.ok("POST", f"/api/conversations/{conversation['id']}/messages", json={"content": f"m{i}"})
    page = await client.server.app[SERVICES].messaging.history(bob.id, conversation["id"], before=None, after=None, limit=None)
    assert [m["seq"] for m in page] == list(range(2, 52))


async def test_history_numbers_are_integers_on_the_socket_as_for_every_frame(users):
    """A frame is JSON: a number in quotes, or with a fraction, is refused (422) as in
    send_message, not read as an integer."""
    alice, bob, a, b = await direct_pair(users)
    conversation = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    await alice.ok("POST", f"/api/conversations/{conversation['id']}/messages", json={"content": "hi"})
    for field, value in (("limit", "10"), ("limit", 10.5), ("limit", 10.0), ("limit", True), ("before", "3"), ("after", 1.0)):
        reply = await b.request("history", {"conversation_id": conversation["id"], field: value})
        assert reply["code"] == 422 and field in reply["data"]["errors"], (field, value, reply)
    reply = await b.request("history", {"conversation_id": conversation["id"], "limit": 10, "after": 0})
    assert reply["code"] == 200 and len(reply["data"]) == 1


async def test_query_string_numbers_are_plain_decimal_integers(users):
    """A query string is text, so REST takes "10", but only as the socket would take 10: not
    "1_0", " 10", "١٠", "10.0" or "+10", which Python's int() reads as numbers."""
    alice, bob, a, b = await direct_pair(users)
    conversation = await alice.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": bob.id})
    path = f"/api/conversations/{conversation['id']}/messages"
    assert await bob.ok("GET", path, params={"limit": "10", "after": "0"}) == []
    for field, value in (("limit", "1_0"), ("limit", " 10"), ("limit", "١٠"), ("limit", "10.0"), ("limit", "+10"), ("limit", ""), ("before", "9" * 5000), ("after", "-1")):
        status, body = await bob.call("GET", path, params={field: value})
        assert status == 422 and field in body["data"]["errors"], (field, value, body)
    status, body = await bob.call("GET", "/api/users", params={"limit": "1_0"})
    assert status == 422 and "limit" in body["data"]["errors"], body
    assert len(await bob.ok("GET", "/api/users", params={"limit": "1", "after": "0"})) == 1


async def test_catch_up_after_reconnect_sees_every_missed_message(users):
    alice, bob, a, b = await direct_pair(users)
    first = await a.request("send_message", {"receiver_id": bob.id, "content": "seen"})
    seen = (await b.event("message.new"))["data"]["seq"]
    await b.close()
    for i in range(5):
        await a.request("send_message", {"receiver_id": bob.id, "content": f"missed {i}"})
    b = await bob.connect()
    caught_up = await b.request("history", {"conversation_id": first["data"]["conversation_id"], "after": seen})
    assert [m["content"] for m in caught_up["data"]] == [f"missed {i}" for i in range(5)]


async def test_recall_rules(users, engine):
    alice, bob, a, b = await direct_pair(users)
    sent = (await a.request("send_message", {"receiver_id": bob.id, "content": "oops"}))["data"]
    await b.event("message.new")
    by_other = await b.request("recall", {"message_id": sent["id"]})
    assert by_other["code"] == 403
    recalled = await a.request("recall", {"message_id": sent["id"]})
    assert recalled["code"] == 200
    assert recalled["data"]["status"] == 3 and recalled["data"]["content"] == "" and recalled["data"]["seq"] == sent["seq"]
    for socket in (a, b):
        event = await socket.event("message.recalled")
        assert event["data"] == {"conversation_id": sent["conversation_id"], "message_id": sent["id"], "seq": sent["seq"], "change_seq": 1, "recalled_by": None}
    history = await bob.ok("GET", f"/api/conversations/{sent['conversation_id']}/messages")
    assert history[0]["content"] == "" and history[0]["status"] == 3
    twice = await a.request("recall", {"message_id": sent["id"]})
    assert twice["code"] == 200 and twice["data"]["status"] == 3
    await b.no_event("message.recalled")
    missing = await a.request("recall", {"message_id": 999999})
    assert missing["code"] == 404


async def test_recall_window_is_enforced(users, engine, settings):
    alice, bob, a, b = await direct_pair(users)
    sent = (await a.request("send_message", {"receiver_id": bob.id, "content": "old"}))["data"]
    async with engine.begin() as conn:
        row = (await conn.execute(select(messages.c.created_at).where(messages.c.id == sent["id"]))).one()
        aged = row.created_at - timedelta(seconds=settings.recall_window_seconds + 1)
        await conn.execute(update(messages).where(messages.c.id == sent["id"]).values(created_at=aged))
    late = await a.request("recall", {"message_id": sent["id"]})
    assert late["code"] == 403
    status, body = await alice.call("POST", f"/api/messages/{sent['id']}/recall")
    assert status == 403


async def test_read_marker_moves_forward_only_and_marks_direct_messages_read(users):
    alice, bob, a, b = await direct_pair(users)
    for i in range(3):
        sent = (await a.request("send_message", {"receiver_id": bob.id, "content": f"r{i}"}))["data"]
    conversation_id = sent["conversation_id"]
    read = await b.request("mark_read", {"conversation_id": conversation_id, "seq": 2})
    assert read["data"] == {"conversation_id": conversation_id, "last_read_seq": 2, "unread_count": 1}
    receipt = await a.event("message.read")
    assert receipt["data"] == {"conversation_id": conversation_id, "user_id": bob.id, "last_read_seq": 2}
    backwards = await b.request("mark_read", {"conversation_id": conversation_id, "seq": 1})
    assert backwards["data"]["last_read_seq"] == 2
    history = await alice.ok("GET", f"/api/conversations/{conversation_id}/messages")
    assert [m["status"] for m in history] == [2, 2, 1]
    past_end = await bob.ok("POST", f"/api/conversations/{conversation_id}/read", json={"seq": 99})
    assert past_end == {"conversation_id": conversation_id, "last_read_seq": 3, "unread_count": 0}
    assert (await a.event("message.read"))["data"]["last_read_seq"] == 3


async def test_rest_send_pushes_like_the_socket(users):
    alice, bob, a, b = await direct_pair(users)
    status, body = await alice.call("POST", "/api/messages", json={"receiver_id": bob.id, "content": "via rest"})
    assert status == 201
    for socket in (a, b):
        assert (await socket.event("message.new"))["data"] == body["data"]
    conversation_id = body["data"]["conversation_id"]
    status, body = await bob.call("POST", f"/api/conversations/{conversation_id}/messages", json={"content": "reply"})
    assert status == 201 and body["data"]["seq"] == 2 and body["data"]["receiver_id"] == alice.id
    assert (await a.event("message.new"))["data"]["content"] == "reply"
    recalled = await bob.ok("POST", f"/api/messages/{body['data']['id']}/recall")
    assert recalled["status"] == 3
    assert (await a.event("message.recalled"))["data"]["seq"] == 2


@pytest.mark.parametrize(
    "data, code",
    [
        ({"content": "no target"}, 422),
        ({"receiver_id": "2", "content": "x"}, 422),
        ({"receiver_id": 999999, "content": "x"}, 404),
        ({"conversation_id": 999999, "content": "x"}, 404),
        ({"receiver_id": "self", "content": "x"}, 422),
        ({"receiver_id": "peer", "content": ""}, 422),
        ({"receiver_id": "peer", "content": "x", "msg_type": 9}, 422),
        ({"receiver_id": "peer", "content": "x", "msg_type": 2}, 422),
        ({"receiver_id": "peer", "content": '{"file_id": 12345}', "msg_type": 3}, 403),
    ],
)
async def test_bad_sends_are_refused_and_nothing_is_stored(users, engine, data, code):
    alice, bob, a, b = await direct_pair(users)
    data = dict(data)
    if data.get("receiver_id") == "self":
        data["receiver_id"] = alice.id
    elif data.get("receiver_id") == "peer":
        data["receiver_id"] = bob.id
    reply = await a.request("send_message", data)
    assert reply["code"] == code, reply
    async with engine.connect() as conn:
        assert (await conn.execute(select(messages.c.id))).first() is None
    assert (await a.request("ping"))["code"] == 200


async def test_content_over_the_limit_is_413(users, settings):
    alice, bob, a, b = await direct_pair(users)
    at_limit = await a.request("send_message", {"receiver_id": bob.id, "content": "é" * settings.message_max_chars})
    assert at_limit["code"] == 201
    over = await a.request("send_message", {"receiver_id": bob.id, "content": "é" * (settings.message_max_chars + 1)})
    assert over["code"] == 413
    status, _ = await alice.call("POST", "/api/messages", json={"receiver_id": bob.id, "content": "x" * (settings.message_max_chars + 1)})
    assert status == 413


async def test_replying_marks_the_peers_messages_read(users):
    alice, bob, a, b = await direct_pair(users)
    first = (await a.request("send_message", {"receiver_id": bob.id, "content": "question"}))["data"]
    await a.request("send_message", {"receiver_id": bob.id, "content": "another"})
    reply = (await b.request("send_message", {"receiver_id": alice.id, "content": "answer"}))["data"]
    receipt = await a.event("message.read")
    assert receipt["data"] == {"conversation_id": first["conversation_id"], "user_id": bob.id, "last_read_seq": reply["seq"]}
    history = await alice.ok("GET", f"/api/conversations/{first['conversation_id']}/messages")
    assert [m["status"] for m in history] == [2, 2, 1]
    # Nothing of Alice's was unread any more: a second reply sends no receipt.
    await b.request("send_message", {"receiver_id": alice.id, "content": "and more"})
    await a.no_event("message.read")


async def test_concurrent_sends_share_commits(users, app):
    """Group commit: sends that queue while a transaction commits go out in the next one."""
    from sqlalchemy import event

    from server.keys import DB

    commits = []
    event.listen(app[DB].sync_engine, "commit", lambda conn: commits.append(1))
    alice, bob = await users.make("alice"), await users.make("bob")
    senders = [await alice.connect() for _ in range(10)]
    commits.clear()

    async def five(socket, i):
        return [await socket.request("send_message", {"receiver_id": bob.id, "content": f"m{i}-{j}"}) for j in range(5)]

    replies = [reply for batch in await asyncio.gather(*(five(s, i) for i, s in enumerate(senders))) for reply in batch]
    assert sorted(r["data"]["seq"] for r in replies) == list(range(1, 51))
    # Only writes commit (reads end in a rollback); one transaction per message would be 50.
    assert len(commits) < 50, len(commits)
