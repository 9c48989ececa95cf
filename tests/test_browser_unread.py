"""Unread messages: a chat opens at the first unread message under a "New messages" line, and
messages count as read only once they have been on screen, never all at once on opening."""

from __future__ import annotations

import asyncio

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
    server,
    wait_connected,
)


async def test_opens_at_the_first_unread_and_reads_what_is_seen(browser, base_url, rest):
    alice = await rest.make("alice", PASSWORD)
    bob = await rest.make("bob", PASSWORD)
    carol = await rest.make("carol", PASSWORD)
    group = await carol.ok("POST", "/api/conversations", json={"type": "group", "name": "Team", "member_ids": [alice.id, bob.id]})
    path = f"/api/conversations/{group['id']}"
    for n in range(1, 11):
        await carol.ok("POST", f"{path}/messages", json={"content": f"old {n}"})
    await alice.ok("POST", f"{path}/read", json={"seq": 10})
    for n in range(1, 61):
        await bob.ok("POST", f"{path}/messages", json={"content": f"new {n}"})

    async def marker() -> int:
        return (await alice.ok("GET", path))["last_read_seq"]

    context, page, errors = await open_page(browser, base_url)
    await login(page, "alice")
    await wait_connected(page)
    item = conversation(page, "Team")
    await expect(item.get_by_test_id("unread-badge")).to_have_text("60")
    await item.click()

    # The line sits between the last read message and the first unread one, which is on screen.
    divider = page.get_by_test_id("unread-divider")
    await expect(divider).to_be_in_viewport()
    order = await page.eval_on_selector_all("#message-items > li", "els => els.map(e => e.dataset.key)")
    assert order[order.index("unread") - 1 : order.index("unread") + 2] == ["s10", "unread", "s11"], order
    await expect(message(page, "new 1")).to_be_in_viewport()
    await expect(message(page, "new 60")).not_to_be_in_viewport()

    # What is on screen is read; the rest is still unread, here and on the server.
    await page.wait_for_function(f"() => window.hubbub.store.conversations.get({group['id']}).last_read_seq > 11")
    await asyncio.sleep(0.5)
    read = await marker()
    assert 11 < read < 70, read
    await expect(item.get_by_test_id("unread-badge")).to_have_text(str(70 - read))

    # Scrolling down reads the rest.
    await page.get_by_test_id("message-list").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    await expect(item.get_by_test_id("unread-badge")).to_have_count(0)
    assert await marker() == 70

    # At the bottom, a new message is read as it arrives; scrolled up, it waits to be seen.
    await carol.ok("POST", f"{path}/messages", json={"content": "seen at once"})
    await expect(message(page, "seen at once")).to_be_visible()
    await page.wait_for_function(f"() => window.hubbub.store.conversations.get({group['id']}).last_read_seq === 71")
    await page.get_by_test_id("message-list").evaluate("el => { el.scrollTop = 0; }")
    await expect(message(page, "new 60")).not_to_be_in_viewport()
    await bob.ok("POST", f"{path}/messages", json={"content": "later"})
    await expect(item.get_by_test_id("unread-badge")).to_have_text("1")
    await asyncio.sleep(0.5)
    assert await marker() == 71
    await page.get_by_test_id("message-list").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    await expect(item.get_by_test_id("unread-badge")).to_have_count(0)
    assert await marker() == 72

    assert errors == [], errors
    await context.close()
