"""The everyday basics: day separators, safe links, bidirectional text, "last seen", a
confirmation before recall, deep links with a working Back button, and Esc and Ctrl+K."""

from __future__ import annotations

import re

from sqlalchemy import text

from tests.browser_kit import (
    accounts,
    conversation,
    expect,
    login,
    message,
    open_page,
    pytestmark,
    send,
    signed_in,
    wait_connected,
)

LINKS = "see https://example.org/a?b=1. or mailto:ops@example.org, not javascript:alert(1)"


async def test_everyday_basics(browser, base_url, rest):
    alice, bob = await accounts(rest, "alice", "bob")
    sent = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "مرحبا Alice"})
    conversation_id = sent["conversation_id"]
    bob_socket = await bob.connect()

    context, page, errors = await signed_in(browser, base_url, "alice")
    await conversation(page, "bob").click()

    # Days are named above their messages; text runs in its own direction.
    await expect(page.get_by_test_id("day-separator")).to_have_text(["Today"])
    await expect(message(page, "مرحبا Alice").get_by_test_id("message-body")).to_have_attribute("dir", "auto")
    await expect(page.get_by_test_id("message-input")).to_have_attribute("dir", "auto")  # and as it is typed
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

    # Up and Down move between the conversations of the list; Enter opens one.
    await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Lunch", "member_ids": [bob.id]})
    await expect(conversation(page, "Lunch")).to_be_visible()
    await conversation(page, "Lunch").focus()
    await page.keyboard.press("ArrowDown")
    await expect(conversation(page, "bob")).to_be_focused()
    await page.keyboard.press("ArrowUp")
    await expect(conversation(page, "Lunch")).to_be_focused()
    await page.keyboard.press("End")
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("chat-title")).to_have_text("bob")
    await page.keyboard.press("Escape")

    # Ctrl+K jumps to a conversation by name, or on to the people search when none fits.
    await page.keyboard.press("Control+k")
    await expect(page.get_by_test_id("quick-switch-input")).to_be_focused()
    await page.keyboard.type("bo")
    await expect(page.get_by_test_id("quick-switch-option")).to_have_text(["bob"])
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("chat-title")).to_have_text("bob")
    await page.keyboard.press("Control+k")
    await page.keyboard.type("carol")
    await expect(page.get_by_test_id("quick-switch-none")).to_be_visible()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("people-search")).to_be_focused()
    await expect(page.get_by_test_id("people-search")).to_have_value("carol")

    assert errors == [], errors
    await context.close()


async def test_day_separators_name_each_day_of_the_history(browser, base_url, rest, engine):
    alice, bob = await accounts(rest, "alice", "bob")
    first = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "three days ago"})
    path = f"/api/conversations/{first['conversation_id']}/messages"
    second = await bob.ok("POST", path, json={"content": "three days ago, later"})
    third = await bob.ok("POST", path, json={"content": "yesterday"})
    await bob.ok("POST", path, json={"content": "today"})
    # The server stamps a message with its own now: these are moved back as if written then.
    async with engine.begin() as conn:
        for message_id, days in ((first["id"], 3), (second["id"], 3), (third["id"], 1)):
            await conn.execute(text("UPDATE messages SET created_at = created_at - INTERVAL :days DAY WHERE id = :id"), {"days": days, "id": message_id})

    context, page, errors = await signed_in(browser, base_url, "alice")
    await conversation(page, "bob").click()
    await expect(message(page, "today")).to_be_visible()
    three_days_ago = await page.evaluate("window.hubbub.formatDay(Date.now() - 3 * 86400000)")
    # One separator above the first message of each day, none between messages of one day.
    order = await page.eval_on_selector_all(
        "#message-items > li",
        """els => els.map((el) => el.dataset.testid === "day-separator" ? `day: ${el.textContent}`
            : el.dataset.testid === "message" ? el.querySelector("[data-testid=message-body]").textContent : null)
          .filter((item) => item !== null)""",
    )
    assert order == [f"day: {three_days_ago}", "three days ago", "three days ago, later", "day: Yesterday", "yesterday", "day: Today", "today"], order
    assert errors == [], errors
    await context.close()


async def test_a_deep_link_opened_signed_out_opens_its_conversation_after_sign_in(browser, base_url, rest):
    alice, bob = await accounts(rest, "alice", "bob")
    sent = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "look at this"})
    await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Other", "member_ids": [bob.id]})

    # A link pasted into a fresh browser: the sign-in form first, then the conversation it names.
    context, page, errors = await open_page(browser, base_url.rstrip("/") + f"/c/{sent['conversation_id']}")
    await login(page, "alice")
    await wait_connected(page)
    await expect(page.get_by_test_id("chat-title")).to_have_text("bob")
    await expect(message(page, "look at this")).to_be_visible()
    await expect(page).to_have_url(re.compile(rf"/c/{sent['conversation_id']}$"))
    # Back from there leaves it for the list, as from any page one arrived on.
    await conversation(page, "Other").click()
    await expect(page.get_by_test_id("chat-title")).to_have_text("Other")
    await page.go_back()
    await expect(page.get_by_test_id("chat-title")).to_have_text("bob")
    assert errors == [], errors
    await context.close()


async def test_dialogs_open_from_the_keyboard_and_give_focus_back_on_esc(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Team", "member_ids": [bob.id, carol.id]})
    context, page, errors = await signed_in(browser, base_url, "alice")
    await conversation(page, "Team").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_test_id("chat-title")).to_have_text("Team")

    # Each dialog takes the focus when it opens and gives it back to its button on Esc.
    for opener, dialog in (("chat-info-button", "info-dialog"), ("me", "profile-dialog"), ("new-group-button", "group-dialog")):
        await page.get_by_test_id(opener).focus()
        await page.keyboard.press("Enter")
        await expect(page.get_by_test_id(dialog)).to_be_visible()
        assert await page.evaluate(f"document.querySelector('[data-testid={dialog}]').contains(document.activeElement)"), opener
        await page.keyboard.press("Escape")
        await expect(page.get_by_test_id(dialog)).to_be_hidden()
        await expect(page.get_by_test_id(opener)).to_be_focused()
    # The chat stays open behind them.
    await expect(page.get_by_test_id("chat-title")).to_have_text("Team")
    assert errors == [], errors
    await context.close()
