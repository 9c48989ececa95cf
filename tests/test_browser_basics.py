"""The everyday basics: day separators, safe links, bidirectional text, "last seen", a
confirmation before recall, deep links with a working Back button, and Esc and Ctrl+K."""

from __future__ import annotations

import re

from tests.browser_kit import (  # the fixtures among these are found by pytest here
    PASSWORD,
    base_url,
    browser,
    conversation,
    expect,
    login,
    message,
    open_page,
    pytestmark,
    rest,
    send,
    server,
    wait_connected,
)

LINKS = "see https://example.org/a?b=1. or mailto:ops@example.org, not javascript:alert(1)"


async def test_everyday_basics(browser, base_url, rest):
    alice = await rest.make("alice", PASSWORD)
    bob = await rest.make("bob", PASSWORD)
    sent = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "مرحبا Alice"})
    conversation_id = sent["conversation_id"]
    bob_socket = await bob.connect()

    context, page, errors = await open_page(browser, base_url)
    await login(page, "alice")
    await wait_connected(page)
    await conversation(page, "bob").click()

    # Days are named above their messages; text runs in its own direction.
    await expect(page.get_by_test_id("day-separator")).to_have_text(["Today"])
    await expect(message(page, "مرحبا Alice").get_by_test_id("message-body")).to_have_attribute("dir", "auto")
    days = await page.evaluate(
        """() => { const f = window.hubbub.formatDay, now = new Date(2024, 5, 15, 12, 0);
            return [new Date(2024, 5, 14, 9), new Date(2024, 2, 3), new Date(2023, 11, 31)].map(d => f(d.getTime(), now)); }"""
    )
    assert days == ["Yesterday", "Sunday 3 March", "Sunday 31 December 2023"]

    # Only http(s) and mailto addresses become links, which open apart from this page.
    await send(page, LINKS)
    links = message(page, LINKS).get_by_test_id("message-link")
    await expect(links).to_have_text(["https://example.org/a?b=1", "mailto:ops@example.org"])
    for link in await links.all():
        await expect(link).to_have_attribute("rel", "noopener noreferrer")
        await expect(link).to_have_attribute("target", "_blank")
    assert await message(page, LINKS).locator("a[href^=javascript]").count() == 0

    # Recall asks first; Cancel keeps the message.
    mine = message(page, LINKS)
    await mine.hover()
    await mine.get_by_test_id("recall-button").click()
    await expect(page.get_by_test_id("confirm-dialog")).to_contain_text("Recall this message?")
    await page.get_by_test_id("confirm-cancel").click()
    await expect(mine).to_have_attribute("data-status", "1")
    await mine.get_by_test_id("recall-button").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.locator("[data-testid=message][data-status='3']")).to_have_count(1)

    # "last seen" once Bob goes offline.
    await expect(page.get_by_test_id("chat-subtitle")).to_have_text("online")
    await bob_socket.close()
    await expect(page.get_by_test_id("chat-subtitle")).to_have_text(re.compile(r"^last seen today at \d\d:\d\d$"))

    # The address names the open conversation: a reload keeps it, Back and Forward work.
    await expect(page).to_have_url(re.compile(rf"/c/{conversation_id}$"))
    await page.reload()
    await wait_connected(page)
    await expect(page.get_by_test_id("chat-title")).to_have_text("bob")
    await expect(message(page, "مرحبا Alice")).to_be_visible()
    await page.get_by_test_id("message-input").press("Escape")
    await expect(page.get_by_test_id("chat")).to_be_hidden()
    await expect(page).to_have_url(re.compile(r"/$"))
    await page.go_back()
    await expect(page.get_by_test_id("chat-title")).to_have_text("bob")
    await page.go_forward()
    await expect(page.get_by_test_id("chat")).to_be_hidden()
    # Someone else's conversation in the address opens nothing.
    await page.goto(base_url.rstrip("/") + "/c/999999")
    await wait_connected(page)
    await expect(page.get_by_test_id("chat")).to_be_hidden()
    await expect(page).to_have_url(re.compile(r"/$"))

    # Ctrl+K finds people.
    await page.keyboard.press("Control+k")
    await expect(page.get_by_test_id("people-search")).to_be_focused()

    assert errors == [], errors
    await context.close()
