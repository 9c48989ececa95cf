"""Editing a sent message (issue 14 part 1): the sender's text messages within the edit
window, the versions kept for the members, `message.edited` to every other socket, and the
change seq that lets an offline client catch up with `changed_after`."""

from datetime import timedelta

from sqlalchemy import select, update

from handlers.hooks import MessageRejected, NamedHook, PreSendHooks
from server.app import create_app
from storage.tables import messages
from tests.chat import UserFactory, online, take


async def group_of_three(users):
    alice, bob, carol = [await users.make(name) for name in ("alice", "bob", "carol")]
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "g", "member_ids": [bob.id, carol.id]})
    return alice, bob, carol, group


async def age_message(engine, message_id, seconds):
    async with engine.begin() as conn:
        created = (await conn.execute(select(messages.c.created_at).where(messages.c.id == message_id))).scalar_one()
        await conn.execute(update(messages).where(messages.c.id == message_id).values(created_at=created - timedelta(seconds=seconds)))


async def test_the_sender_edits_and_every_other_socket_hears_it_once(users):
    alice, bob, carol, group = await group_of_three(users)
    editing, other_device = await online(alice, 2)
    (bob_socket,) = await online(bob)
    sent = (await editing.request("send_message", {"conversation_id": group["id"], "content": "helo"}))["data"]
    assert sent["edited_at"] is None and sent["change_seq"] == 0

    reply = await editing.request("edit_message", {"message_id": sent["id"], "content": "hello"})
    assert reply["code"] == 200
    edited = reply["data"]
    assert edited["content"] == "hello" and edited["seq"] == sent["seq"] and edited["id"] == sent["id"]
    assert edited["edited_at"] >= sent["created_at"] and edited["change_seq"] == 1

    for socket in (other_device, bob_socket):
        assert await take(socket, "message.edited") == [edited]
    assert await take(editing, "message.edited") == []
    history = await carol.ok("GET", f"/api/conversations/{group['id']}/messages")
    assert history == [edited]
    conversation = await carol.ok("GET", f"/api/conversations/{group['id']}")
    assert conversation["last_seq"] == 1 and conversation["last_change_seq"] == 1
    assert conversation["last_message"] == edited


async def test_members_read_every_version_oldest_first(users):
    alice, bob, carol, group = await group_of_three(users)
    sent = await alice.ok("POST", f"/api/conversations/{group['id']}/messages", json={"content": "one"})
    path = f"/api/conversations/{group['id']}/messages/{sent['id']}/edits"
    assert await bob.ok("GET", path) == [{"version": 1, "content": "one", "created_at": sent["created_at"]}]
    await alice.ok("PATCH", f"/api/messages/{sent['id']}", json={"content": "two"})
    last = await alice.ok("PATCH", f"/api/messages/{sent['id']}", json={"content": "three"})
    versions = await bob.ok("GET", path)
    assert [v["content"] for v in versions] == ["one", "two", "three"]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[0]["created_at"] == sent["created_at"] and versions[-1]["created_at"] == last["edited_at"]
    assert versions[0]["created_at"] <= versions[1]["created_at"] <= versions[2]["created_at"]

    # A message of another conversation is not found through this one.
    other = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "h", "member_ids": [bob.id]})
    status, body = await bob.call("GET", f"/api/conversations/{other['id']}/messages/{sent['id']}/edits")
    assert (status, body["message"]) == (404, "no such message")

    # A recall withdraws every version.
    await alice.ok("POST", f"/api/messages/{sent['id']}/recall")
    assert await bob.ok("GET", path) == []


async def test_the_same_content_again_is_a_retry_that_changes_nothing(users):
    alice, bob, carol, group = await group_of_three(users)
    socket, (bob_socket,) = await alice.connect(), await online(bob)
    sent = (await socket.request("send_message", {"conversation_id": group["id"], "content": "a"}))["data"]
    first = (await socket.request("edit_message", {"message_id": sent["id"], "content": "b"}))["data"]
    again = await socket.request("edit_message", {"message_id": sent["id"], "content": "b"})
    assert again["code"] == 200 and again["data"] == first
    assert len(await take(bob_socket, "message.edited")) == 1
    assert len(await bob.ok("GET", f"/api/conversations/{group['id']}/messages/{sent['id']}/edits")) == 2


async def test_what_cannot_be_edited_is_403(users, engine, settings):
    alice, bob, carol, group = await group_of_three(users)
    socket = await alice.connect()
    sent = (await socket.request("send_message", {"conversation_id": group["id"], "content": "x"}))["data"]

    status, body = await bob.call("PATCH", f"/api/messages/{sent['id']}", json={"content": "mine now"})
    assert (status, body["message"]) == (403, "only the sender can edit a message")

    await age_message(engine, sent["id"], settings.edit_window_seconds + 1)
    reply = await socket.request("edit_message", {"message_id": sent["id"], "content": "late"})
    assert reply["code"] == 403 and "edit window" in reply["message"]

    recalled = (await socket.request("send_message", {"conversation_id": group["id"], "content": "y"}))["data"]
    assert (await socket.request("recall", {"message_id": recalled["id"]}))["code"] == 200
    reply = await socket.request("edit_message", {"message_id": recalled["id"], "content": "back"})
    assert (reply["code"], reply["message"]) == (403, "a recalled message cannot be edited")
    history = await bob.ok("GET", f"/api/conversations/{group['id']}/messages")
    assert [m["content"] for m in history] == ["x", ""]


async def test_a_group_owner_sets_the_edit_window(users, engine, settings):
    alice, bob, carol, group = await group_of_three(users)
    assert group["edit_window_seconds"] == settings.edit_window_seconds
    path = f"/api/conversations/{group['id']}"
    assert (await bob.call("PATCH", path, json={"edit_window_seconds": 10}))[0] == 403
    assert (await alice.call("PATCH", path, json={"edit_window_seconds": -1}))[0] == 422
    socket = await bob.connect()
    updated = await alice.ok("PATCH", path, json={"edit_window_seconds": 0})
    assert updated["edit_window_seconds"] == 0
    assert (await socket.event("conversation.updated"))["data"]["edit_window_seconds"] == 0
    sent = (await socket.request("send_message", {"conversation_id": group["id"], "content": "x"}))["data"]
    assert (await socket.request("edit_message", {"message_id": sent["id"], "content": "z"}))["code"] == 403
    await alice.ok("PATCH", path, json={"edit_window_seconds": 7 * 24 * 3600})
    await age_message(engine, sent["id"], settings.edit_window_seconds + 60)
    assert (await socket.request("edit_message", {"message_id": sent["id"], "content": "z"}))["code"] == 200


async def test_bad_edits_are_refused_in_the_envelope(users, settings):
    alice, bob, carol, group = await group_of_three(users)
    socket = await alice.connect()
    sent = (await socket.request("send_message", {"conversation_id": group["id"], "content": "x"}))["data"]
    for data in ({"message_id": sent["id"], "content": ""}, {"message_id": sent["id"]}, {"content": "x"}, {"message_id": "1", "content": "x"}):
        assert (await socket.request("edit_message", data))["code"] == 422, data
    too_long = "x" * (settings.message_max_chars + 1)
    assert (await socket.request("edit_message", {"message_id": sent["id"], "content": too_long}))["code"] == 413
    assert (await alice.call("PATCH", f"/api/messages/{sent['id']}", json={"content": too_long}))[0] == 413
    assert (await alice.call("PATCH", f"/api/messages/{sent['id']}", json={"content": "x", "extra": 1}))[0] == 422
    assert (await alice.call("PATCH", "/api/messages/987654", json={"content": "x"}))[0] == 404
    assert (await alice.call("PATCH", "/api/messages/abc", json={"content": "x"}))[0] == 404


async def test_offline_clients_catch_up_on_edits_and_recalls_by_change_seq(users):
    alice, bob, carol, group = await group_of_three(users)
    gid = group["id"]
    sent = [await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": f"m{i}"}) for i in range(4)]
    seen = (await bob.ok("GET", f"/api/conversations/{gid}"))["last_change_seq"]
    assert seen == 0
    # bob is away: m0 edited twice, m2 recalled, m1 edited.
    await alice.ok("PATCH", f"/api/messages/{sent[0]['id']}", json={"content": "m0'"})
    await alice.ok("PATCH", f"/api/messages/{sent[0]['id']}", json={"content": "m0''"})
    await alice.ok("POST", f"/api/messages/{sent[2]['id']}/recall")
    await alice.ok("PATCH", f"/api/messages/{sent[1]['id']}", json={"content": "m1'"})

    changed = await bob.ok("GET", f"/api/conversations/{gid}/messages?changed_after={seen}")
    assert [(m["seq"], m["content"], m["change_seq"]) for m in changed] == [(1, "m0''", 2), (3, "", 3), (2, "m1'", 4)]
    assert changed[1]["status"] == 3
    assert (await bob.ok("GET", f"/api/conversations/{gid}"))["last_change_seq"] == 4
    page = await bob.ok("GET", f"/api/conversations/{gid}/messages?changed_after=2&limit=1")
    assert [m["seq"] for m in page] == [3]
    socket = await bob.connect()
    reply = await socket.request("history", {"conversation_id": gid, "changed_after": 3})
    assert [m["content"] for m in reply["data"]] == ["m1'"]
    assert (await socket.request("history", {"conversation_id": gid, "changed_after": 3, "after": 1}))["code"] == 422
    assert (await bob.call("GET", f"/api/conversations/{gid}/messages?changed_after=-1"))[0] == 422


async def test_recall_pushes_its_change_seq(users):
    alice, bob, carol, group = await group_of_three(users)
    (bob_socket,) = await online(bob)
    sent = await alice.ok("POST", f"/api/conversations/{group['id']}/messages", json={"content": "x"})
    recalled = await alice.ok("POST", f"/api/messages/{sent['id']}/recall")
    assert recalled["change_seq"] == 1
    assert await take(bob_socket, "message.recalled") == [{"conversation_id": group["id"], "message_id": sent["id"], "seq": 1, "change_seq": 1, "recalled_by": None}]


async def test_edits_of_a_direct_message(users):
    alice, bob = await users.make("alice"), await users.make("bob")
    (bob_socket,) = await online(bob)
    sent = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "hi"})
    edited = await alice.ok("PATCH", f"/api/messages/{sent['id']}", json={"content": "hi bob"})
    assert edited["receiver_id"] == bob.id
    assert await take(bob_socket, "message.edited") == [edited]


async def test_pre_send_hooks_run_on_the_new_content(aiohttp_client, settings, engine):
    seen = []

    async def polite(message):
        seen.append(message)
        if "darn" in message.content:
            raise MessageRejected("watch your language")
        return message.content.replace("teh", "the")

    client = await aiohttp_client(create_app(settings, hooks=PreSendHooks([NamedHook("polite", "acme-plugin", polite)])))
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    sent = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "hi"})
    edited = await alice.ok("PATCH", f"/api/messages/{sent['id']}", json={"content": "teh end"})
    assert edited["content"] == "the end"
    assert seen[-1].conversation_id == sent["conversation_id"] and seen[-1].sender_id == alice.id
    status, body = await alice.call("PATCH", f"/api/messages/{sent['id']}", json={"content": "darn"})
    assert status == 422 and body["data"] == {"errors": {"content": ["watch your language"]}}
    # Hooks see only edits the sender may make.
    count = len(seen)
    assert (await bob.call("PATCH", f"/api/messages/{sent['id']}", json={"content": "teh"}))[0] == 403
    assert len(seen) == count
