"""Looking someone up under People opens a draft chat that exists only on that page: the
direct conversation is made by the first message, whoever writes it."""

from __future__ import annotations

from tests.browser_kit import (
    PHONE,
    accounts,
    conversation,
    expect,
    message,
    pytestmark,
    send,
    signed_in,
)


async def open_person(page, username: str) -> None:
    await page.get_by_test_id("tab-people").click()
    await page.get_by_test_id("people-search").fill(username)
    await page.get_by_test_id("person-item").filter(has_text=f"@{username}").click()
    await expect(page.get_by_test_id("chat-title")).to_have_text(username)


async def test_the_first_message_makes_the_direct_chat(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    alice_ctx, page, alice_errors = await signed_in(browser, base_url, "alice", viewport=PHONE)
    bob_ctx, bob_page, bob_errors = await signed_in(browser, base_url, "bob")

    # Looking at Bob opens an empty chat, and nobody's list changes.
    await open_person(page, "bob")
    await expect(page.get_by_test_id("older-status")).to_have_text("No messages yet. Say hello!")
    await expect(page.get_by_test_id("chat-subtitle")).to_have_text("online")
    assert await alice.ok("GET", "/api/conversations") == [] and await bob.ok("GET", "/api/conversations") == []
    await page.get_by_test_id("back-button").click()
    await expect(page.get_by_test_id("conversation-item")).to_have_count(0)
    await expect(bob_page.get_by_test_id("conversation-item")).to_have_count(0)

    # The first message makes it, on both sides, once.
    await open_person(page, "bob")
    await send(page, "Hi Bob, first message")
    await expect(message(page, "Hi Bob, first message").get_by_test_id("receipt")).to_be_visible()
    await expect(conversation(bob_page, "alice").get_by_test_id("unread-badge")).to_have_text("1")
    await send(page, "and a second")
    await conversation(bob_page, "alice").click()
    await expect(message(bob_page, "and a second")).to_be_visible()
    conversations = await alice.ok("GET", "/api/conversations")
    assert len(conversations) == 1 and conversations[0]["last_seq"] == 2
    assert await page.evaluate("window.hubbub.store.openId") == conversations[0]["id"]

    # Carol writes first while Alice has Carol's draft open: it becomes that conversation,
    # and what Alice was typing stays.
    await page.get_by_test_id("back-button").click()
    await open_person(page, "carol")
    await page.get_by_test_id("message-input").fill("half typed")
    await carol.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hey alice"})
    await expect(message(page, "hey alice")).to_be_visible()
    await expect(page.get_by_test_id("message-input")).to_have_value("half typed")
    await send(page, "hey carol")
    await expect(message(page, "hey carol").get_by_test_id("receipt")).to_be_visible()
    with_carol = [c for c in await carol.ok("GET", "/api/conversations") if c["type"] == "direct"]
    assert len(with_carol) == 1 and with_carol[0]["last_seq"] == 2
    await page.get_by_test_id("back-button").click()
    await expect(page.get_by_test_id("conversation-item")).to_have_count(2)

    assert alice_errors == [] and bob_errors == [], (alice_errors, bob_errors)
    await alice_ctx.close()
    await bob_ctx.close()
