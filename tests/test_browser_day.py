"""Issue #15's "done when": a group of three runs its day in the browser without touching the
REST API. Three people sign up in their own browsers (one on a phone), make a group, talk in
it with replies, reactions and mentions, rename it, one leaves, and two go on in a direct chat
started from People; nothing in this test talks to the server but the three pages."""

from __future__ import annotations

import re

from tests.browser_kit import (
    PHONE,
    conversation,
    expect,
    message,
    notice,
    open_page,
    pytestmark,
    register,
    send,
    wait_connected,
)

__all__ = ["pytestmark"]


async def test_three_people_run_their_day_in_the_browser_alone(browser, base_url):
    pages = {}
    for username, nickname, viewport in (("alice", "Alice", None), ("bob", "Bob", None), ("carol", "Carol", PHONE)):
        context, page, errors = await open_page(browser, base_url, **({"viewport": viewport} if viewport else {}))
        await register(page, username, nickname)
        await wait_connected(page)
        pages[username] = (context, page, errors)
    a, b, c = (pages[name][1] for name in ("alice", "bob", "carol"))

    # Alice makes the group and picks the other two from the directory.
    await a.get_by_test_id("new-group-button").click()
    dialog = a.get_by_test_id("group-dialog")
    await dialog.get_by_test_id("group-name").fill("Trip")
    for name in ("bob", "carol"):
        await dialog.get_by_test_id("group-search").fill(name)
        await dialog.get_by_test_id("group-candidate").filter(has_text=f"@{name}").locator("input").check()
    await dialog.get_by_test_id("group-create").click()
    await expect(a.get_by_test_id("chat-subtitle")).to_contain_text("3 members")
    await send(a, "Who is in for Saturday?")
    for page in (b, c):
        await expect(conversation(page, "Trip").get_by_test_id("unread-badge")).to_have_text("1")
        await conversation(page, "Trip").click()
        await expect(message(page, "Who is in for Saturday?")).to_be_visible()
        await expect(notice(page, "Alice created the group “Trip”")).to_be_attached()

    # Bob answers, Carol replies to him with a mention, Alice reacts.
    await send(b, "Me! I can drive")
    await expect(message(c, "Me! I can drive")).to_be_visible()
    await message(c, "Me! I can drive").get_by_test_id("message-body").click()
    await message(c, "Me! I can drive").get_by_test_id("reply-button").click()
    await send(c, "@bob great, I'll bring snacks")
    answer = message(a, "@bob great, I'll bring snacks")
    await expect(answer.get_by_test_id("quote")).to_contain_text("Me! I can drive")
    await expect(message(b, "@bob great, I'll bring snacks")).to_have_class(re.compile(r"\bmentions-me\b"))
    await answer.hover()
    await answer.get_by_test_id("react-button").click()
    await a.get_by_test_id("reaction-picker").get_by_test_id("reaction-choice").first.click()
    await expect(message(c, "@bob great, I'll bring snacks").get_by_test_id("reaction")).to_have_text("👍1")

    # Alice renames the group; Carol (on her phone) leaves it; both show as notices.
    await a.get_by_test_id("chat-info-button").click()
    panel = a.get_by_test_id("info-dialog")
    await panel.get_by_test_id("rename-input").fill("Saturday trip")
    await panel.get_by_test_id("rename-save").click()
    await panel.get_by_test_id("info-close").click()
    await expect(notice(b, "Alice renamed the group to “Saturday trip”")).to_be_visible()
    await expect(c.get_by_test_id("chat-title")).to_have_text("Saturday trip")
    await c.get_by_test_id("chat-info-button").click()
    await c.get_by_test_id("info-dialog").get_by_test_id("leave-group").click()
    await c.get_by_test_id("confirm-ok").click()
    await expect(conversation(c, "Saturday trip")).to_have_count(0)
    for page in (a, b):
        await expect(notice(page, "Carol left the group")).to_be_visible()
        await expect(page.get_by_test_id("chat-subtitle")).to_contain_text("2 members")

    # Bob and Carol go on in a direct chat, started from People by its first message.
    await b.get_by_test_id("tab-people").click()
    await b.get_by_test_id("people-search").fill("car")
    await b.get_by_test_id("person-item").filter(has_text="@carol").click()
    await send(b, "Sorry you're out. Next time?")
    await expect(conversation(c, "Bob").get_by_test_id("unread-badge")).to_have_text("1")
    await conversation(c, "Bob").click()
    await expect(message(c, "Sorry you're out. Next time?")).to_be_visible()
    await send(c, "Sure!")
    await expect(message(b, "Sure!")).to_be_visible()
    await expect(message(b, "Sorry you're out. Next time?").get_by_test_id("receipt")).to_have_attribute("data-state", "read")

    for name, (context, page, errors) in pages.items():
        assert errors == [], (name, errors)
        await context.close()
