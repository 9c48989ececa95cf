"""Unread messages: a chat opens at the first unread message under a "New messages" line, and
messages count as read only once they have been on screen, never all at once on opening."""

from __future__ import annotations

import asyncio

from tests.browser_kit import (
    accounts,
    conversation,
    expect,
    message,
    pytestmark,
    signed_in,
    wait_connected,
)


async def test_opens_at_the_first_unread_and_reads_what_is_seen(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    group = await carol.ok("POST", "/api/conversations", json={"type": "group", "name": "Team", "member_ids": [alice.id, bob.id]})
    path = f"/api/conversations/{group['id']}"
    for n in range(1, 11):
        await carol.ok("POST", f"{path}/messages", json={"content": f"old {n}"})
    await alice.ok("POST", f"{path}/read", json={"seq": 10})
    for n in range(1, 61):
        await bob.ok("POST", f"{path}/messages", json={"content": f"new {n}"})

    async def marker() -> int:
        return (await alice.ok("GET", path))["last_read_seq"]

    context, page, errors = await signed_in(browser, base_url, "alice")
    item = conversation(page, "Team")
    await expect(item.get_by_test_id("unread-badge")).to_have_text("60")
    await item.click()

    # The line sits between the last read message and the first unread one, which is on screen.
    divider = page.get_by_test_id("unread-divider")
    await expect(divider).to_be_in_viewport()
    await expect(divider).to_have_text("New messages")
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


# The tab's visibility, switchable from the test (a headless page is always "visible").
HIDABLE = """
let hidden = false;
Object.defineProperty(Document.prototype, "visibilityState", { get() { return hidden ? "hidden" : "visible"; }, configurable: true });
Object.defineProperty(Document.prototype, "hidden", { get() { return hidden; }, configurable: true });
window.__setHidden = (value) => { hidden = value; document.dispatchEvent(new Event("visibilitychange")); };
"""


async def test_a_message_to_an_open_chat_in_a_hidden_tab_waits_to_be_seen(browser, base_url, rest):
    alice, bob = await accounts(rest, "alice", "bob")
    sent = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})
    path = f"/api/conversations/{sent['conversation_id']}"
    context, page, errors = await signed_in(browser, base_url, "alice")
    await context.add_init_script(HIDABLE)
    await page.reload()
    await wait_connected(page)
    await conversation(page, "bob").click()
    await expect(message(page, "hi")).to_be_visible()
    await page.wait_for_function(f"() => window.hubbub.store.conversations.get({sent['conversation_id']}).last_read_seq === 1")

    # The chat is open at the bottom, but the tab is in the background: nobody sees it.
    await page.evaluate("window.__setHidden(true)")
    await bob.ok("POST", f"{path}/messages", json={"content": "while you were away"})
    await expect(message(page, "while you were away")).to_be_attached()
    await expect(conversation(page, "bob").get_by_test_id("unread-badge")).to_have_text("1")
    await asyncio.sleep(0.5)
    assert (await alice.ok("GET", path))["last_read_seq"] == 1
    assert (await alice.ok("GET", "/api/conversations"))[0]["unread_count"] == 1

    # Back to the tab: read now.
    await page.evaluate("window.__setHidden(false)")
    await expect(conversation(page, "bob").get_by_test_id("unread-badge")).to_have_count(0)
    await page.wait_for_function(f"() => window.hubbub.store.conversations.get({sent['conversation_id']}).last_read_seq === 2")
    for _ in range(20):
        if (await alice.ok("GET", path))["last_read_seq"] == 2:
            break
        await asyncio.sleep(0.1)
    assert (await alice.ok("GET", path))["last_read_seq"] == 2
    assert errors == [], errors
    await context.close()
