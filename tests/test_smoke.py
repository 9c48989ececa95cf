async def test_direct_chat_round_trip(users):
    alice = await users.make("alice")
    bob = await users.make("bob")
    a = await alice.connect()
    b = await bob.connect()
    reply = await a.request("send_message", {"receiver_id": bob.id, "content": "hello"})
    assert reply["code"] == 201, reply
    pushed = await b.event("message.new")
    assert pushed["data"]["content"] == "hello"
    assert pushed["data"]["seq"] == 1
    history = await bob.ok("GET", f"/api/conversations/{pushed['data']['conversation_id']}/messages")
    assert [m["content"] for m in history] == ["hello"]
