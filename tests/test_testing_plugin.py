"""The pytest plugin shipped with the server (server/testing.py, issue 17 part 1): its helpers
say what PLUGINS.md §8 says they do, against the real `hubbub serve` its fixture starts."""

import asyncio

import pytest

from handlers.lifecycle import Lifecycle, NamedSubscriber, Subscriber


async def test_the_fixtures_serve_and_the_helpers_check_codes(hubbub_server, hubbub_client):
    assert hubbub_server.url.startswith("http://127.0.0.1:") and hubbub_server.database_url.startswith("sqlite")
    alice, bob = await hubbub_client.user("alice"), await hubbub_client.user("bob")
    assert (await alice.ok("GET", "/api/users/me"))["username"] == "alice"
    assert (await alice.fails(404, "GET", "/api/conversations/999"))["code"] == 404
    with pytest.raises(AssertionError):
        await alice.fails(403, "GET", "/api/conversations/999")
    with pytest.raises(AssertionError):
        await alice.ok("GET", "/api/conversations/999")
    assert (await hubbub_client.call("GET", "/api/users/me"))[0] == 401
    a, b = await alice.connect(), await bob.connect()
    assert (await a.fails(404, "send_message", {"conversation_id": 999, "content": "x"}))["code"] == 404
    with pytest.raises(AssertionError):
        await a.ok("send_message", {"conversation_id": 999, "content": "x"})
    assert (await a.request("nope"))["code"] == 400


async def test_event_raises_when_none_comes_and_no_event_raises_when_one_does(hubbub_client):
    alice, bob = await hubbub_client.user("alice"), await hubbub_client.user("bob")
    a, b = await alice.connect(), await bob.connect()
    # Nothing sent: event raises AssertionError, no_event returns None.
    with pytest.raises(AssertionError, match="no 'message.new' event within 0.2s"):
        await b.event("message.new", timeout=0.2)
    assert await b.no_event("message.new", wait=0.2) is None
    await a.ok("send_message", {"receiver_id": bob.id, "content": "hi"})
    await asyncio.sleep(0.3)
    with pytest.raises(AssertionError, match="unexpected 'message.new' event"):
        await b.no_event("message.new")
    await a.ok("send_message", {"receiver_id": bob.id, "content": "again"})
    assert (await b.event("message.new"))["data"]["content"] == "again"
    # Events that came while waiting for a reply are kept for event().
    await a.ok("send_message", {"receiver_id": bob.id, "content": "kept"})
    await asyncio.sleep(0.3)
    assert (await b.request("ping"))["code"] == 200
    assert (await b.event("message.new", timeout=0.1))["data"]["content"] == "kept"


async def test_subscribers_still_running_at_shutdown_are_cancelled_after_the_wait():
    finished, cancelled = [], []
    subscriber = Subscriber()

    @subscriber.on("user.connected")
    async def quick(ctx, event) -> None:
        await asyncio.sleep(0.05)
        finished.append(event["user_id"])

    @subscriber.on("user.connected")
    async def endless(ctx, event) -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(event["user_id"])
            raise

    lifecycle = Lifecycle([NamedSubscriber("acme", "acme-plugin", subscriber)], timeout_seconds=60)
    lifecycle.start(services=None, push=None, db=None, settings=None)
    lifecycle.emit("user.connected", {"user_id": 7})
    await lifecycle.close(wait_seconds=0.3)
    assert finished == [7] and cancelled == [7]
    lifecycle.emit("user.connected", {"user_id": 8})  # closed: nothing more runs
    await asyncio.sleep(0.1)
    assert finished == [7]
