"""The plugin's own tests, run from this folder (`python -m pytest`) with nothing but
`pip install hubbub[test]` and this plugin installed: the server's pytest plugin starts a real
`hubbub serve` with the plugin loaded and its schema migrated."""

import asyncio

import pytest

pytestmark = pytest.mark.asyncio  # this project runs pytest-asyncio in its strict mode


async def pinned(user, conversation_id: int) -> list[int]:
    return [pin["message_id"] for pin in await user.ok("GET", f"/api/plugins/pins/conversations/{conversation_id}")]


async def test_a_pin_reaches_the_other_members_and_both_lists_show_it(hubbub_client):
    alice, bob, carol = await hubbub_client.user("alice"), await hubbub_client.user("bob"), await hubbub_client.user("carol")
    a, b = await alice.connect(), await bob.connect()
    message = await a.ok("send_message", {"receiver_id": bob.id, "content": "the plan"})
    conversation_id = message["conversation_id"]
    assert await b.ok("pins.pin", {"message_id": message["id"], "note": "read this"}) == {"conversation_id": conversation_id, "pinned": [message["id"]]}
    changed = await a.event("pins.changed")
    assert changed["data"] == {"conversation_id": conversation_id, "message_id": message["id"], "pinned": True, "user_id": bob.id}
    await b.no_event("pins.changed")  # the pinning socket has its reply
    pins = [{"message_id": message["id"], "pinned_by": bob.id, "note": "read this"}]
    assert await alice.ok("GET", f"/api/plugins/pins/conversations/{conversation_id}") == pins
    assert await a.ok("pins.list", {"conversation_id": conversation_id}) == {"conversation_id": conversation_id, "pins": pins}
    # Someone who is not in the conversation learns nothing, on the socket or over REST.
    c = await carol.connect()
    await c.fails(404, "pins.pin", {"message_id": message["id"]})
    await c.fails(404, "pins.list", {"conversation_id": conversation_id})
    await carol.fails(404, "GET", f"/api/plugins/pins/conversations/{conversation_id}")
    await a.fails(422, "pins.pin", {"message_id": "seven"})


async def test_recalled_messages_are_unpinned_by_the_subscriber(hubbub_client):
    alice, bob = await hubbub_client.user("alice"), await hubbub_client.user("bob")
    a = await alice.connect()
    message = await a.ok("send_message", {"receiver_id": bob.id, "content": "oops"})
    await a.ok("pins.pin", {"message_id": message["id"]})
    assert await pinned(alice, message["conversation_id"]) == [message["id"]]
    await a.ok("recall", {"message_id": message["id"]})
    for _ in range(100):  # the subscriber runs after the recall's reply
        if not await pinned(alice, message["conversation_id"]):
            break
        await asyncio.sleep(0.05)
    assert await pinned(alice, message["conversation_id"]) == []


async def test_the_profanity_hook_masks_and_refuses(hubbub_client):
    alice, bob = await hubbub_client.user("alice"), await hubbub_client.user("bob")
    a = await alice.connect()
    assert (await a.ok("send_message", {"receiver_id": bob.id, "content": "oh darn"}))["content"] == "oh d**n"
    refused = await alice.fails(422, "POST", "/api/messages", json={"receiver_id": bob.id, "content": "buy followers"})
    assert refused["message"] == "this message looks like spam"
