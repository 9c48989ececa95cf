"""Read markers and unread counts across devices (issue 4, PROTOCOL §2 ConversationVO and §4
mark_read / recall): what the server counts, and that the events each device receives are
enough for it to show the same badge as the server."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.chat import ChatUser, Socket, online, settle, take


async def listed(user: ChatUser, conversation_id: int) -> dict | None:
    return {c["id"]: c for c in await user.ok("GET", "/api/conversations")}.get(conversation_id)


async def unread(user: ChatUser, conversation_id: int) -> int:
    return (await listed(user, conversation_id))["unread_count"]


async def make_group(owner: ChatUser, members: list[ChatUser]) -> int:
    status, body = await owner.call("POST", "/api/conversations", json={"type": "group", "name": "team", "member_ids": [m.id for m in members]})
    assert status == 201, body
    return body["data"]["id"]


async def say(socket: Socket, conversation_id: int, content: str) -> dict:
    reply = await socket.request("send_message", {"conversation_id": conversation_id, "content": content})
    assert reply["code"] == 201, reply
    return reply["data"]


async def read(socket: Socket, conversation_id: int, seq: int) -> dict:
    reply = await socket.request("mark_read", {"conversation_id": conversation_id, "seq": seq})
    assert reply["code"] == 200, reply
    return reply["data"]


# --- the server's counts ---------------------------------------------------------------------


async def test_reads_on_one_device_reach_the_other_device_and_the_other_members(users):
    alice, bob, carol, dave = [await users.make(n) for n in ("alice", "bob", "carol", "dave")]
    a1, a2 = await online(alice, 2)
    b1, b2 = await online(bob, 2)
    (c,) = await online(carol)
    (d,) = await online(dave)
    gid = await make_group(alice, [bob, carol])
    for text in ("one", "two", "three"):
        await say(b1, gid, text)

    assert await unread(alice, gid) == 3
    assert await unread(carol, gid) == 3
    assert await unread(bob, gid) == 0  # one's own messages are never unread
    assert (await listed(bob, gid))["last_read_seq"] == 3  # sending moved bob's marker

    assert await read(a1, gid, 2) == {"conversation_id": gid, "last_read_seq": 2, "unread_count": 1}
    expected = {"conversation_id": gid, "user_id": alice.id, "last_read_seq": 2}
    for socket in (a2, b1, b2, c):
        assert await take(socket, "message.read") == [expected]
    for socket in (a1, d):
        assert await take(socket, "message.read") == []
    assert await unread(alice, gid) == 1
    assert await unread(carol, gid) == 3  # alice's reading is hers only

    # The marker never moves backwards, and not moving it tells nobody anything.
    status, body = await alice.call("POST", f"/api/conversations/{gid}/read", json={"seq": 1})
    assert (status, body["data"]) == (200, {"conversation_id": gid, "last_read_seq": 2, "unread_count": 1}), body
    assert await read(a2, gid, 0) == {"conversation_id": gid, "last_read_seq": 2, "unread_count": 1}
    for socket in (a1, a2, b1, c):
        assert await take(socket, "message.read") == []

    # A seq past last_seq counts as last_seq; the other device hears it.
    assert await read(a2, gid, 99) == {"conversation_id": gid, "last_read_seq": 3, "unread_count": 0}
    assert await take(a1, "message.read") == [{"conversation_id": gid, "user_id": alice.id, "last_read_seq": 3}]
    assert await take(a2, "message.read") == []
    for user_socket in (b1, b2, c):
        assert len(await take(user_socket, "message.read")) == 1
    assert (await alice.ok("GET", f"/api/conversations/{gid}"))["last_read_seq"] == 3

    # Read over REST: no sending socket to leave out, so all of the reader's sockets hear it.
    await say(b2, gid, "four")
    status, body = await carol.call("POST", f"/api/conversations/{gid}/read", json={"seq": 4})
    assert (status, body["data"]) == (200, {"conversation_id": gid, "last_read_seq": 4, "unread_count": 0}), body
    for socket in (c, a1, a2, b1, b2):
        assert await take(socket, "message.read") == [{"conversation_id": gid, "user_id": carol.id, "last_read_seq": 4}]

    # alice's own message: her marker moves to it; it is unread for the others.
    await say(a1, gid, "five")
    assert (await listed(alice, gid))["last_read_seq"] == 5
    # Sending moved alice's marker past bob's "four" as well: nothing is unread for her.
    assert [await unread(u, gid) for u in (alice, bob, carol)] == [0, 1, 1]
    status, body = await dave.call("POST", f"/api/conversations/{gid}/read", json={"seq": 5})
    assert status == 404, body


async def test_recall_lowers_the_counts_it_was_part_of_and_never_below_zero(users):
    alice, bob, carol = [await users.make(n) for n in ("alice", "bob", "carol")]
    a1, a2 = await online(alice, 2)
    b1, b2 = await online(bob, 2)
    (c,) = await online(carol)
    gid = await make_group(alice, [bob, carol])
    m1, m2, m3 = [await say(b1, gid, text) for text in ("one", "two", "three")]
    await read(a1, gid, 2)  # alice has read m1 and m2; carol has read nothing

    # m1 was read by alice, unread for carol: only carol's count drops.
    reply = await b2.request("recall", {"message_id": m1["id"]})
    assert reply["code"] == 200 and reply["data"]["status"] == 3 and reply["data"]["content"] == "", reply
    recalled = {"conversation_id": gid, "message_id": m1["id"], "seq": m1["seq"], "change_seq": 1, "recalled_by": None}
    for socket in (a1, a2, b1, b2, c):  # every member's sockets, the recalling one included
        assert await take(socket, "message.recalled") == [recalled]
    assert await unread(alice, gid) == 1
    assert await unread(carol, gid) == 2
    assert await unread(bob, gid) == 0

    # m3 was unread for both.
    await bob.ok("POST", f"/api/messages/{m3['id']}/recall")
    assert await unread(alice, gid) == 0
    assert await unread(carol, gid) == 1
    # Recalling again changes nothing.
    assert (await b1.request("recall", {"message_id": m3["id"]}))["code"] == 200
    assert [await unread(u, gid) for u in (alice, bob, carol)] == [0, 0, 1]

    # Reading after recalls: the markers count seqs, the recalled ones included.
    assert await read(c, gid, 3) == {"conversation_id": gid, "last_read_seq": 3, "unread_count": 0}
    # m2 was read by everyone: recalling it moves no count, and none goes below zero.
    await say(a1, gid, "four")
    await bob.ok("POST", f"/api/messages/{m2['id']}/recall")
    assert [await unread(u, gid) for u in (alice, bob, carol)] == [0, 1, 1]
    detail = await bob.ok("GET", f"/api/conversations/{gid}")
    assert (detail["last_seq"], detail["last_read_seq"], detail["unread_count"]) == (4, 3, 1)
    history = await carol.ok("GET", f"/api/conversations/{gid}/messages")
    assert [(m["seq"], m["status"], m["content"]) for m in history] == [(1, 3, ""), (2, 3, ""), (3, 3, ""), (4, 1, "four")]
    # A recalled last message shows as recalled in the list.
    await alice.ok("POST", f"/api/messages/{history[3]['id']}/recall")
    view = await listed(bob, gid)
    assert (view["unread_count"], view["last_message"]["status"], view["last_message"]["content"]) == (0, 3, "")


async def test_direct_receipts_and_counts(users):
    alice, bob = [await users.make(n) for n in ("alice", "bob")]
    a1, a2 = await online(alice, 2)
    b1, b2 = await online(bob, 2)
    reply = await a1.request("send_message", {"receiver_id": bob.id, "content": "hi"})
    assert reply["code"] == 201
    cid = reply["data"]["conversation_id"]
    await say(a2, cid, "there")
    assert await unread(bob, cid) == 2 and await unread(alice, cid) == 0

    assert await read(b2, cid, 1) == {"conversation_id": cid, "last_read_seq": 1, "unread_count": 1}
    for socket in (a1, a2, b1):
        assert await take(socket, "message.read") == [{"conversation_id": cid, "user_id": bob.id, "last_read_seq": 1}]
    history = await alice.ok("GET", f"/api/conversations/{cid}/messages")
    assert [m["status"] for m in history] == [2, 1]  # read receipts of a direct conversation
    assert await unread(bob, cid) == 1


# --- what each device shows ------------------------------------------------------------------


@dataclass
class Device:
    """A client's local state for one conversation, kept only from what the server sends it:
    replies to its own frames and pushed events. Its badge must equal the server's count."""

    user: ChatUser
    socket: Socket
    conversation_id: int
    marker: int = 0
    messages: dict[int, dict] = field(default_factory=dict)  # seq → MessageVO
    member: bool = True

    def badge(self) -> int:
        return sum(1 for m in self.messages.values() if m["seq"] > self.marker and m["sender_id"] != self.user.id and m["status"] != 3)

    async def sync(self) -> None:
        """Apply every event received up to now."""
        await settle(self.socket)
        for frame in self.socket.events:
            data = frame["data"]
            if data.get("conversation_id", data.get("id")) != self.conversation_id:
                continue
            if frame["type"] == "conversation.created":
                self.marker = data["last_read_seq"]
            elif frame["type"] == "message.new":
                self.learn(data)
            elif frame["type"] == "message.recalled" and data["seq"] in self.messages:
                self.messages[data["seq"]] = {**self.messages[data["seq"]], "status": 3, "content": ""}
            elif frame["type"] == "message.read" and data["user_id"] == self.user.id:
                self.marker = max(self.marker, data["last_read_seq"])
            elif frame["type"] == "member.removed" and data["user_id"] == self.user.id:
                self.member = False
        self.socket.events.clear()

    def learn(self, message: dict) -> None:
        self.messages[message["seq"]] = message
        if message["sender_id"] == self.user.id:
            self.marker = max(self.marker, message["seq"])

    async def send(self, content: str) -> dict:
        message = await say(self.socket, self.conversation_id, content)
        self.learn(message)
        return message

    async def read_all(self) -> None:
        reply = await read(self.socket, self.conversation_id, max(self.messages, default=0))
        self.marker = reply["last_read_seq"]

    async def recall(self, message: dict) -> None:
        reply = await self.socket.request("recall", {"message_id": message["id"]})
        assert reply["code"] == 200, reply
        self.messages[message["seq"]] = reply["data"]


async def check_badges(devices: list[Device]) -> dict[str, int]:
    """Every device of a member shows the server's count; returns the counts by user."""
    counts = {}
    for device in devices:
        await device.sync()
    for device in devices:
        if not device.member:
            assert await listed(device.user, device.conversation_id) is None
            continue
        server = await unread(device.user, device.conversation_id)
        assert device.badge() == server, (device.user.username, device.badge(), server)
        counts[device.user.username] = server
    return counts


async def test_three_users_group_chat_receipts_leave_and_badges_on_two_devices(users):
    alice, bob, carol = [await users.make(n) for n in ("alice", "bob", "carol")]
    sockets = {u.username: await online(u, 2) for u in (alice, bob, carol)}
    gid = await make_group(alice, [bob, carol])
    dev = {(u.username, i): Device(u, sockets[u.username][i], gid) for u in (alice, bob, carol) for i in (0, 1)}
    devices = list(dev.values())
    assert await check_badges(devices) == {"alice": 0, "bob": 0, "carol": 0}
    assert all(d.marker == 0 for d in devices)

    # Chat: each message reaches every device but the sending one.
    hello = await dev["alice", 0].send("hello")
    await dev["bob", 1].send("hi alice")
    question = await dev["carol", 0].send("lunch?")
    for device in devices:
        await device.sync()
        assert sorted(device.messages) == [1, 2, 3], device.user.username
    assert await check_badges(devices) == {"alice": 2, "bob": 1, "carol": 0}

    # Receipts: bob reads on one device; his other device and the others hear it.
    await dev["bob", 0].read_all()
    receipts = {key: await take(d.socket, "message.read") for key, d in dev.items()}
    for key, device in dev.items():  # hand the receipts back to the devices
        device.socket.events.extend({"type": "message.read", "data": data} for data in receipts[key])
    assert receipts["bob", 0] == []
    for key in (("bob", 1), ("alice", 0), ("alice", 1), ("carol", 0), ("carol", 1)):
        assert receipts[key] == [{"conversation_id": gid, "user_id": bob.id, "last_read_seq": 3}], key
    assert await check_badges(devices) == {"alice": 2, "bob": 0, "carol": 0}

    # A recall of a message that alice has not read lowers her badge on both devices.
    await dev["carol", 1].recall(question)
    assert await check_badges(devices) == {"alice": 1, "bob": 0, "carol": 0}
    await dev["alice", 1].read_all()
    assert await check_badges(devices) == {"alice": 0, "bob": 0, "carol": 0}

    # carol leaves from one device; both her devices see it and get nothing more.
    await carol.ok("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    await dev["alice", 0].send("bye carol")
    await dev["alice", 1].send("just us now")
    counts = await check_badges(devices)
    assert counts == {"alice": 0, "bob": 2}
    assert not dev["carol", 0].member and not dev["carol", 1].member
    assert sorted(dev["carol", 0].messages) == sorted(dev["carol", 1].messages) == [1, 2, 3]
    assert sorted(dev["alice", 1].messages) == sorted(dev["bob", 1].messages) == [1, 2, 3, 4, 5]

    # Recall of an already-read message changes no badge; of an unread one, lowers it.
    await dev["alice", 0].recall(hello)  # read by everyone
    assert await check_badges(devices) == {"alice": 0, "bob": 2}
    assert dev["alice", 1].messages[4]["content"] == "bye carol"
    await dev["alice", 1].recall(dev["alice", 1].messages[4])  # unread for bob
    assert await check_badges(devices) == {"alice": 0, "bob": 1}
    await dev["bob", 1].read_all()
    assert await check_badges(devices) == {"alice": 0, "bob": 0}
