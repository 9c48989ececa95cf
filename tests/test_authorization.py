"""Authorization in one place (issue 4 part 5): every conversation-scoped REST route and socket
handler asks the same membership check, and whoever is not a member (never was, left, was
removed) gets exactly the answer a conversation id that does not exist gets: 404 "no such
conversation". Nothing such a caller tries changes anything or reaches anyone."""

from __future__ import annotations

import pytest

from storage import conversations as conversation_store
from tests.chat import ChatUser, Socket, pushes_crossed

MISSING = 987654
NO_SUCH_CONVERSATION = (404, "no such conversation", None)
NO_SUCH_MESSAGE = (404, "no such message", None)
EVENTS = (
    "message.new",
    "message.read",
    "message.recalled",
    "message.edited",
    "message.reaction",
    "typing",
    "conversation.created",
    "conversation.updated",
    "conversation.deleted",
    "member.added",
    "member.removed",
)


async def online(user: ChatUser) -> Socket:
    socket = await user.connect()
    assert (await socket.request("ping"))["code"] == 200
    return socket


async def pushed(socket: Socket) -> list[dict]:
    """Every conversation event that reached `socket` up to now (a ping round trip orders them)."""
    assert (await socket.request("ping"))["code"] == 200
    found = [frame for frame in socket.events if frame["type"] in EVENTS]
    socket.events.clear()
    return found


def rest_probes(prober: ChatUser, owner: ChatUser) -> list[tuple[str, str, dict | None]]:
    """Every conversation-scoped route, with a body that would be valid for a member."""
    return [
        ("GET", "/api/conversations/{id}", None),
        ("PATCH", "/api/conversations/{id}", {"name": "taken over"}),
        ("DELETE", "/api/conversations/{id}", None),
        ("GET", "/api/conversations/{id}/members", None),
        ("POST", "/api/conversations/{id}/members", {"user_ids": [prober.id]}),
        ("DELETE", "/api/conversations/{id}/members/" + str(prober.id), None),
        ("DELETE", "/api/conversations/{id}/members/" + str(owner.id), None),
        ("GET", "/api/conversations/{id}/messages", None),
        ("GET", "/api/conversations/{id}/messages?after=0&limit=10", None),
        ("GET", "/api/conversations/{id}/messages?before=3", None),
        ("GET", "/api/conversations/{id}/messages?changed_after=0", None),
        ("POST", "/api/conversations/{id}/messages", {"content": "let me in"}),
        ("POST", "/api/conversations/{id}/messages", {"content": "let me in", "client_msg_id": "probe-1"}),
        ("POST", "/api/conversations/{id}/read", {"seq": 1}),
        ("PATCH", "/api/conversations/{id}/settings", {"muted": True, "pinned": True, "archived": True}),
    ]


SOCKET_PROBES = [
    ("send_message", {"conversation_id": "{id}", "content": "let me in"}),
    ("send_message", {"conversation_id": "{id}", "content": "let me in", "client_msg_id": "probe-2"}),
    ("mark_read", {"conversation_id": "{id}", "seq": 1}),
    ("history", {"conversation_id": "{id}"}),
    ("history", {"conversation_id": "{id}", "after": 0, "limit": 5}),
    ("history", {"conversation_id": "{id}", "changed_after": 0}),
    ("typing", {"conversation_id": "{id}"}),
    ("conversation_settings", {"conversation_id": "{id}", "muted": True, "pinned": True, "archived": True}),
]


def fill(data: dict, conversation_id: int) -> dict:
    return {key: conversation_id if value == "{id}" else value for key, value in data.items()}


async def rest_answer(user: ChatUser, method: str, path: str, body: dict | None, conversation_id: int) -> tuple:
    status, envelope = await user.call(method, path.format(id=conversation_id), json=body)
    assert envelope["code"] == status
    return status, envelope["message"], envelope["data"]


async def socket_answer(socket: Socket, type_: str, data: dict, conversation_id: int) -> tuple:
    reply = await socket.request(type_, fill(data, conversation_id))
    return reply["code"], reply["message"], reply["data"]


@pytest.fixture
async def world(users):
    """alice owns a group with bob; carol left it, erin was removed, dave never was in it.
    carol and erin each sent a message while they were members."""
    alice, bob, carol, erin, dave = [await users.make(n) for n in ("alice", "bob", "carol", "erin", "dave")]
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "team", "member_ids": [bob.id, carol.id, erin.id]})
    gid = group["id"]
    own = {}
    for user in (alice, carol, erin, bob):
        own[user.username] = await user.ok("POST", f"/api/conversations/{gid}/messages", json={"content": f"from {user.username}"})
    await carol.ok("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    await alice.ok("DELETE", f"/api/conversations/{gid}/members/{erin.id}")
    # The tests' watchers open next and must hear nothing: not even the setup's last pushes,
    # still crossing the bus in the cluster mode.
    await pushes_crossed()
    return dict(alice=alice, bob=bob, carol=carol, erin=erin, dave=dave, gid=gid, own=own)


@pytest.mark.parametrize("prober_name", ["dave", "carol", "erin"])
async def test_rest_routes_answer_outsiders_as_if_the_conversation_did_not_exist(world, prober_name):
    alice, bob, gid = world["alice"], world["bob"], world["gid"]
    prober = world[prober_name]
    watchers = [await online(alice), await online(bob)]
    before = await alice.ok("GET", f"/api/conversations/{gid}")

    for method, path, body in rest_probes(prober, alice):
        missing = await rest_answer(prober, method, path, body, MISSING)
        assert missing == NO_SUCH_CONVERSATION, (method, path, missing)
        existing = await rest_answer(prober, method, path, body, gid)
        assert existing == missing, (prober_name, method, path, existing)

    # Nothing changed and nobody heard anything.
    after = await alice.ok("GET", f"/api/conversations/{gid}")
    assert after == before
    assert sorted(m["id"] for m in after["members"]) == sorted([alice.id, bob.id])
    assert [m["content"] for m in await bob.ok("GET", f"/api/conversations/{gid}/messages")] == [
        "from alice",
        "from carol",
        "from erin",
        "from bob",
    ]
    assert gid not in {c["id"] for c in await prober.ok("GET", "/api/conversations")}
    for socket in watchers:
        assert await pushed(socket) == []


@pytest.mark.parametrize("prober_name", ["dave", "carol", "erin"])
async def test_socket_handlers_answer_outsiders_as_if_the_conversation_did_not_exist(world, prober_name):
    alice, bob, gid = world["alice"], world["bob"], world["gid"]
    prober = world[prober_name]
    watchers = [await online(alice), await online(bob)]
    socket = await online(prober)

    for type_, data in SOCKET_PROBES:
        missing = await socket_answer(socket, type_, data, MISSING)
        assert missing == NO_SUCH_CONVERSATION, (type_, data, missing)
        existing = await socket_answer(socket, type_, data, gid)
        assert existing == missing, (prober_name, type_, data, existing)

    assert (await alice.ok("GET", f"/api/conversations/{gid}"))["last_seq"] == 4
    for watcher in watchers:
        assert await pushed(watcher) == []
    assert await pushed(socket) == []


@pytest.mark.parametrize("prober_name", ["dave", "carol", "erin"])
async def test_recall_in_a_conversation_one_is_not_in_answers_as_for_no_message(world, prober_name):
    """Recall names a message, not a conversation: an outsider gets what a missing message id
    gets, even for a message it sent itself while it was a member."""
    alice, bob, gid = world["alice"], world["bob"], world["gid"]
    prober = world[prober_name]
    watchers = [await online(alice), await online(bob)]
    socket = await online(prober)
    targets = [world["own"]["alice"]["id"], world["own"]["bob"]["id"]]
    if prober_name != "dave":
        targets.append(world["own"][prober_name]["id"])  # its own message, sent while a member

    missing_rest = await rest_answer(prober, "POST", "/api/messages/{id}/recall", None, MISSING)
    missing_socket = await socket_answer(socket, "recall", {"message_id": "{id}"}, MISSING)
    assert missing_rest == missing_socket == NO_SUCH_MESSAGE
    for message_id in targets:
        assert await rest_answer(prober, "POST", "/api/messages/{id}/recall", None, message_id) == NO_SUCH_MESSAGE
        assert await socket_answer(socket, "recall", {"message_id": "{id}"}, message_id) == NO_SUCH_MESSAGE

    history = await bob.ok("GET", f"/api/conversations/{gid}/messages")
    assert all(m["status"] != 3 for m in history)
    for watcher in watchers:
        assert await pushed(watcher) == []


@pytest.mark.parametrize("prober_name", ["dave", "carol", "erin"])
async def test_edits_of_messages_in_a_conversation_one_is_not_in_answer_as_for_no_message(world, prober_name):
    """Editing names a message (404 "no such message"); reading its versions names the
    conversation too (404 "no such conversation", as any conversation route)."""
    alice, bob, gid = world["alice"], world["bob"], world["gid"]
    prober = world[prober_name]
    watchers = [await online(alice), await online(bob)]
    socket = await online(prober)
    targets = [world["own"]["alice"]["id"], world["own"]["bob"]["id"]]
    if prober_name != "dave":
        targets.append(world["own"][prober_name]["id"])

    edit = {"message_id": "{id}", "content": "taken over"}
    assert await rest_answer(prober, "PATCH", "/api/messages/{id}", {"content": "taken over"}, MISSING) == NO_SUCH_MESSAGE
    assert await socket_answer(socket, "edit_message", edit, MISSING) == NO_SUCH_MESSAGE
    for message_id in targets:
        assert await rest_answer(prober, "PATCH", "/api/messages/{id}", {"content": "taken over"}, message_id) == NO_SUCH_MESSAGE
        assert await socket_answer(socket, "edit_message", edit, message_id) == NO_SUCH_MESSAGE
        versions = "/api/conversations/{id}/messages/" + str(message_id) + "/edits"
        assert await rest_answer(prober, "GET", versions, None, gid) == NO_SUCH_CONVERSATION
        assert await rest_answer(prober, "GET", versions, None, MISSING) == NO_SUCH_CONVERSATION

    history = await bob.ok("GET", f"/api/conversations/{gid}/messages")
    assert all(m["edited_at"] is None for m in history)
    assert (await bob.ok("GET", f"/api/conversations/{gid}"))["last_change_seq"] == 0
    for watcher in watchers:
        assert await pushed(watcher) == []


@pytest.mark.parametrize("prober_name", ["dave", "carol", "erin"])
async def test_reactions_to_messages_in_a_conversation_one_is_not_in_answer_as_for_no_message(world, prober_name):
    """Adding and removing a reaction name a message: 404 "no such message", on both
    transports, for a message the prober may once have seen or even reacted to."""
    alice, bob, gid = world["alice"], world["bob"], world["gid"]
    prober = world[prober_name]
    target_ids = [world["own"]["alice"]["id"], world["own"]["bob"]["id"]]
    if prober_name != "dave":
        target_ids.append(world["own"][prober_name]["id"])
    watchers = [await online(alice), await online(bob)]
    socket = await online(prober)

    for message_id in [MISSING, *target_ids]:
        for method in ("PUT", "DELETE"):
            assert await rest_answer(prober, method, "/api/messages/{id}/reactions/%F0%9F%91%8D", None, message_id) == NO_SUCH_MESSAGE
        for type_ in ("add_reaction", "remove_reaction"):
            assert await socket_answer(socket, type_, {"message_id": "{id}", "emoji": "👍"}, message_id) == NO_SUCH_MESSAGE

    history = await bob.ok("GET", f"/api/conversations/{gid}/messages")
    assert all(m["reactions"] == [] for m in history)
    assert (await bob.ok("GET", f"/api/conversations/{gid}"))["last_change_seq"] == 0
    for watcher in watchers:
        assert await pushed(watcher) == []


async def test_an_ex_member_keeps_no_hold_on_its_reactions(world):
    """A reaction made while a member cannot be taken back once out; it stays, as its messages do."""
    alice, bob, gid = world["alice"], world["bob"], world["gid"]
    target = world["own"]["alice"]["id"]
    await bob.ok("PUT", f"/api/messages/{target}/reactions/%F0%9F%91%8D")
    await alice.ok("DELETE", f"/api/conversations/{gid}/members/{bob.id}")
    status, body = await bob.call("DELETE", f"/api/messages/{target}/reactions/%F0%9F%91%8D")
    assert (status, body["message"]) == (404, "no such message")
    history = await alice.ok("GET", f"/api/conversations/{gid}/messages")
    assert [m["reactions"] for m in history if m["id"] == target] == [[{"emoji": "👍", "count": 1, "user_ids": [bob.id], "me": False}]]


async def test_members_are_let_through_the_same_check(world):
    """The control: the same probes by a member and by the owner are not refused as outsiders."""
    alice, bob, gid = world["alice"], world["bob"], world["gid"]
    socket = await online(bob)
    for method, path, body in rest_probes(bob, alice):
        if method == "DELETE" and path.endswith(f"/{bob.id}"):
            continue  # that would be bob leaving
        if method == "POST" and path.endswith("/messages") and body.get("client_msg_id"):
            continue
        status, message, _ = await rest_answer(bob, method, path, body, gid)
        assert (status, message) != (404, "no such conversation"), (method, path)
        assert status in (200, 201, 403), (method, path, status, message)
    for type_, data in SOCKET_PROBES:
        code, message, _ = await socket_answer(socket, type_, data, gid)
        assert code in (200, 201), (type_, code, message)
    status, _, _ = await rest_answer(alice, "PATCH", "/api/conversations/{id}", {"name": "still mine"}, gid)
    assert status == 200


async def test_every_route_and_handler_goes_through_the_one_membership_check(world, monkeypatch):
    """With the membership query answering "not a member" for everyone, every conversation
    route and handler refuses the owner as an outsider: none of them decides on its own. But
    one: a plain text send is decided by the group commit's own statement, under the
    conversation's lock (storage.message_batch; its refusals are tested in test_storage, and
    strangers' and ex-members' sends above)."""
    alice, gid = world["alice"], world["gid"]
    socket = await online(alice)

    async def nobody_is_a_member(conn, conversation_id, user_id, *, lock=False):
        return None

    monkeypatch.setattr(conversation_store, "get_membership", nobody_is_a_member)
    for method, path, body in rest_probes(alice, world["bob"]):
        if (method, path) != ("POST", "/api/conversations/{id}/messages"):
            assert await rest_answer(alice, method, path, body, gid) == NO_SUCH_CONVERSATION, (method, path)
    for type_, data in SOCKET_PROBES:
        if type_ != "send_message":
            assert await socket_answer(socket, type_, data, gid) == NO_SUCH_CONVERSATION, type_
    assert await socket_answer(socket, "recall", {"message_id": "{id}"}, world["own"]["alice"]["id"]) == NO_SUCH_MESSAGE
    reaction = {"message_id": "{id}", "emoji": "👍"}
    assert await socket_answer(socket, "add_reaction", reaction, world["own"]["bob"]["id"]) == NO_SUCH_MESSAGE
    monkeypatch.undo()
    assert (await alice.ok("GET", f"/api/conversations/{gid}"))["name"] == "team"
