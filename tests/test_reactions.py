"""Reactions (issue 14 part 3): an emoji per user per emoji per message, `message.reaction` to
every socket of every member but the acting one, counts and the first users in MessageVO in
every read, catch-up by change seq, and what cannot be reacted with or to."""

from urllib.parse import quote

from sqlalchemy import event

from server.app import create_app
from server.keys import DB
from tests.chat import UserFactory, online, take

THUMBS, PARTY, HEART = "👍", "🎉", "❤️"


async def group_of_three(users):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id, carol.id]})
    return alice, bob, carol, group


def reactions_path(message_id: int, emoji: str) -> str:
    return f"/api/messages/{message_id}/reactions/{quote(emoji)}"


async def test_a_reaction_reaches_every_other_socket_once_and_every_read(users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    alice_phone, alice_laptop = await online(alice, 2)
    bob_reacting, bob_other = await online(bob, 2)
    sent = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "lunch?"})
    assert sent["reactions"] == []
    await take(alice_phone, "message.new")

    reply = await bob_reacting.request("add_reaction", {"message_id": sent["id"], "emoji": THUMBS})
    assert reply["code"] == 200
    reacted = reply["data"]
    assert reacted["reactions"] == [{"emoji": THUMBS, "count": 1, "user_ids": [bob.id], "me": True}]
    assert reacted["change_seq"] == 1 and reacted["content"] == "lunch?" and reacted["edited_at"] is None
    expected = {
        "conversation_id": gid,
        "message_id": sent["id"],
        "user_id": bob.id,
        "emoji": THUMBS,
        "added": True,
        "change_seq": 1,
        "reactions": [{"emoji": THUMBS, "count": 1, "user_ids": [bob.id]}],
    }
    for socket in (alice_phone, alice_laptop, bob_other):
        assert await take(socket, "message.reaction") == [expected]
    assert await take(bob_reacting, "message.reaction") == []

    await carol.ok("PUT", reactions_path(sent["id"], THUMBS))
    await carol.ok("PUT", reactions_path(sent["id"], PARTY))
    # Reads for one caller say whether that caller reacted; emoji in the order first used.
    history = await carol.ok("GET", f"/api/conversations/{gid}/messages")
    assert history[0]["reactions"] == [
        {"emoji": THUMBS, "count": 2, "user_ids": [bob.id, carol.id], "me": True},
        {"emoji": PARTY, "count": 1, "user_ids": [carol.id], "me": True},
    ]
    socket_history = (await alice_phone.request("history", {"conversation_id": gid}))["data"]
    assert [r["me"] for r in socket_history[0]["reactions"]] == [False, False]
    assert history[0]["change_seq"] == 3
    # What every member may be pushed carries no `me`.
    conversation = await alice.ok("GET", f"/api/conversations/{gid}")
    assert conversation["last_change_seq"] == 3
    assert conversation["last_message"]["reactions"] == [
        {"emoji": THUMBS, "count": 2, "user_ids": [bob.id, carol.id]},
        {"emoji": PARTY, "count": 1, "user_ids": [carol.id]},
    ]
    # Over REST every socket hears it, the caller's own included.
    assert len(await take(bob_reacting, "message.reaction")) == 2

    removed = await bob_reacting.request("remove_reaction", {"message_id": sent["id"], "emoji": THUMBS})
    assert removed["data"]["reactions"] == [
        {"emoji": THUMBS, "count": 1, "user_ids": [carol.id], "me": False},
        {"emoji": PARTY, "count": 1, "user_ids": [carol.id], "me": False},
    ]
    pushed = await take(alice_laptop, "message.reaction")
    assert [(e["user_id"], e["emoji"], e["added"], e["change_seq"]) for e in pushed] == [
        (carol.id, THUMBS, True, 2),
        (carol.id, PARTY, True, 3),
        (bob.id, THUMBS, False, 4),
    ]


async def test_adding_or_removing_again_is_a_retry_that_changes_nothing(users):
    alice, bob, carol, group = await group_of_three(users)
    (bob_socket,), (alice_socket,) = await online(bob), await online(alice)
    sent = await alice.ok("POST", f"/api/conversations/{group['id']}/messages", json={"content": "x"})
    first = await bob_socket.request("add_reaction", {"message_id": sent["id"], "emoji": HEART})
    again = await bob_socket.request("add_reaction", {"message_id": sent["id"], "emoji": HEART})
    assert (first["code"], again["code"]) == (200, 200) and again["data"] == first["data"]
    status, body = await bob.call("PUT", reactions_path(sent["id"], HEART))
    assert status == 200 and body["data"] == first["data"]
    assert len(await take(alice_socket, "message.reaction")) == 1

    gone = await bob_socket.request("remove_reaction", {"message_id": sent["id"], "emoji": HEART})
    gone_again = await bob_socket.request("remove_reaction", {"message_id": sent["id"], "emoji": HEART})
    status, body = await bob.call("DELETE", reactions_path(sent["id"], HEART))
    assert gone["code"] == gone_again["code"] == status == 200
    assert gone_again["data"] == body["data"] == gone["data"] and gone["data"]["reactions"] == []
    # Nobody ever reacted with this one: removing it is a retry too.
    assert (await bob_socket.request("remove_reaction", {"message_id": sent["id"], "emoji": PARTY}))["code"] == 200
    assert len(await take(alice_socket, "message.reaction")) == 1
    assert (await alice.ok("GET", f"/api/conversations/{group['id']}"))["last_change_seq"] == 2


async def test_a_message_takes_a_bounded_number_of_different_emoji(aiohttp_client, settings, engine):
    client = await aiohttp_client(create_app(settings.replace(message_max_reactions=2)))
    users = UserFactory(client)
    alice, bob = await users.make("alice"), await users.make("bob")
    sent = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "x"})
    await alice.ok("PUT", reactions_path(sent["id"], THUMBS))
    await alice.ok("PUT", reactions_path(sent["id"], PARTY))
    status, body = await bob.call("PUT", reactions_path(sent["id"], HEART))
    assert status == 422 and body["data"]["errors"] == {"emoji": ["a message takes at most 2 different reactions"]}
    # An emoji it has already is not a new one.
    shared = await bob.ok("PUT", reactions_path(sent["id"], PARTY))
    assert [(r["emoji"], r["count"]) for r in shared["reactions"]] == [(THUMBS, 1), (PARTY, 2)]
    await alice.ok("DELETE", reactions_path(sent["id"], THUMBS))
    assert [r["emoji"] for r in (await bob.ok("PUT", reactions_path(sent["id"], HEART)))["reactions"]] == [PARTY, HEART]


async def test_only_one_emoji_is_a_reaction(users):
    alice, bob, carol, group = await group_of_three(users)
    socket = await alice.connect()
    sent = await alice.ok("POST", f"/api/conversations/{group['id']}/messages", json={"content": "x"})
    for emoji in ("", "a", "ok", THUMBS + THUMBS, THUMBS + " ", "🏽", "\u200d", "👍\n", "🇫", "1", 7, None, "👨‍👩‍👧‍👦" * 2):
        reply = await socket.request("add_reaction", {"message_id": sent["id"], "emoji": emoji})
        assert reply["code"] == 422 and "emoji" in reply["data"]["errors"], (emoji, reply)
    for emoji in ("abc", "%F0%9F%91%8Dx"):
        status, body = await alice.call("PUT", f"/api/messages/{sent['id']}/reactions/{emoji}")
        assert status == 422 and "emoji" in body["data"]["errors"], emoji
    assert (await socket.request("add_reaction", {"message_id": sent["id"]}))["code"] == 422
    assert (await socket.request("add_reaction", {"message_id": sent["id"], "emoji": THUMBS, "extra": 1}))["code"] == 422
    assert (await socket.request("add_reaction", {"message_id": "1", "emoji": THUMBS}))["code"] == 422
    # Skin tones, ZWJ sequences, flags and keycaps are one emoji each.
    for emoji in ("👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "1️⃣", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", HEART, "❤"):
        assert (await socket.request("add_reaction", {"message_id": sent["id"], "emoji": emoji}))["code"] == 200, emoji
    history = await bob.ok("GET", f"/api/conversations/{group['id']}/messages")
    assert [r["emoji"] for r in history[0]["reactions"]] == ["👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "1️⃣", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", HEART, "❤"]
    assert (await alice.call("PUT", reactions_path(987654, THUMBS)))[0] == 404
    assert (await alice.call("PUT", f"/api/messages/abc/reactions/{quote(THUMBS)}"))[0] == 404


async def test_a_recalled_message_loses_its_reactions_and_takes_no_more(users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    bob_socket, (carol_socket,) = await bob.connect(), await online(carol)
    sent = await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "oops"})
    await bob_socket.request("add_reaction", {"message_id": sent["id"], "emoji": THUMBS})
    await alice.ok("POST", f"/api/messages/{sent['id']}/recall")
    history = await carol.ok("GET", f"/api/conversations/{gid}/messages")
    assert history[0]["status"] == 3 and history[0]["reactions"] == []
    reply = await bob_socket.request("add_reaction", {"message_id": sent["id"], "emoji": PARTY})
    assert (reply["code"], reply["message"]) == (403, "a recalled message takes no reactions")
    # Taking back a reaction the recall already took is a retry.
    removed = await bob_socket.request("remove_reaction", {"message_id": sent["id"], "emoji": THUMBS})
    assert removed["code"] == 200 and removed["data"]["reactions"] == []
    assert len(await take(carol_socket, "message.reaction")) == 1
    changed = await carol.ok("GET", f"/api/conversations/{gid}/messages?changed_after=1")
    assert [(m["id"], m["status"], m["reactions"]) for m in changed] == [(sent["id"], 3, [])]


async def test_offline_clients_catch_up_on_reactions_by_change_seq(users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    sent = [await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": f"m{i}"}) for i in range(3)]
    await bob.ok("PUT", reactions_path(sent[0]["id"], THUMBS))
    seen = (await carol.ok("GET", f"/api/conversations/{gid}"))["last_change_seq"]
    # carol is away: a reaction to m2, an edit of m0, a reaction taken back from m0.
    await bob.ok("PUT", reactions_path(sent[2]["id"], PARTY))
    await alice.ok("PATCH", f"/api/messages/{sent[0]['id']}", json={"content": "m0'"})
    await bob.ok("DELETE", reactions_path(sent[0]["id"], THUMBS))
    changed = await carol.ok("GET", f"/api/conversations/{gid}/messages?changed_after={seen}")
    assert [(m["seq"], m["change_seq"], [r["emoji"] for r in m["reactions"]]) for m in changed] == [(3, 2, [PARTY]), (1, 4, [])]
    assert changed[1]["content"] == "m0'"


async def test_a_direct_message_takes_reactions_from_both(users):
    alice, bob = await users.make("alice"), await users.make("bob")
    (alice_socket,) = await online(alice)
    bob_socket = await bob.connect()
    sent = (await alice_socket.request("send_message", {"receiver_id": bob.id, "content": "hi"}))["data"]
    await bob_socket.request("add_reaction", {"message_id": sent["id"], "emoji": THUMBS})
    mine = await alice_socket.request("add_reaction", {"message_id": sent["id"], "emoji": THUMBS})
    assert mine["data"]["reactions"] == [{"emoji": THUMBS, "count": 2, "user_ids": [bob.id, alice.id], "me": True}]
    assert [e["user_id"] for e in await take(alice_socket, "message.reaction")] == [bob.id]
    assert [e["user_id"] for e in await take(bob_socket, "message.reaction")] == [alice.id]


async def test_a_page_of_history_reads_its_reactions_in_one_query(client, users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    sent = [await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": f"m{i}"}) for i in range(12)]
    for message in sent:
        await bob.ok("PUT", reactions_path(message["id"], THUMBS))
        await carol.ok("PUT", reactions_path(message["id"], PARTY))
    statements = []

    def count(conn, cursor, statement, *args):
        if "message_reactions" in statement:
            statements.append(statement)

    engine = client.server.app[DB].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = await carol.ok("GET", f"/api/conversations/{gid}/messages?limit=12")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert all([r["emoji"] for r in m["reactions"]] == [THUMBS, PARTY] for m in page)
