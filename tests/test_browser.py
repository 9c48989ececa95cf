"""The browser client (server/static) in a real browser: Debian's Chromium driven by Python
Playwright, against a real server on a loopback port and a fresh database.

Skipped, with the reason, when /usr/bin/chromium or the playwright module is missing. CI
installs both: `apt-get install -y chromium` and `pip install playwright` (never
`playwright install`, which downloads a browser build).

The screenshot in docs/ is taken by test_main_screen: it is written to docs/screenshot.png
only when HUBBUB_UPDATE_SCREENSHOT=1 (else to a temporary directory), so that an ordinary
test run leaves the tree clean:
    HUBBUB_UPDATE_SCREENSHOT=1 python -m pytest tests/test_browser.py -k main_screen
"""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from tests.browser_kit import (
    PASSWORD,
    PHONE,
    SCREENSHOT,
    accounts,
    bodies,
    conversation,
    expect,
    message,
    open_page,
    png,
    pytestmark,
    register,
    send,
    seqs,
    signed_in,
    wait_connected,
)

# --- tests ------------------------------------------------------------------------------------


async def test_two_users_chat(browser, base_url, rest, tmp_path):
    """Register, start a direct chat, talk both ways live, read receipts, typing, recall,
    image and file sharing, then a dropped connection with messages sent offline and the
    catch-up on both sides without duplicates or holes."""
    alice_ctx, alice, alice_errors = await open_page(browser, base_url)
    bob_ctx, bob, bob_errors = await open_page(browser, base_url)
    await register(alice, "alice", "Alice")
    await register(bob, "bob", "Bob")
    await wait_connected(alice)
    await wait_connected(bob)

    # Alice finds Bob in the people list and starts a direct chat.
    await alice.get_by_test_id("tab-people").click()
    await alice.get_by_test_id("people-search").fill("bo")
    person = alice.get_by_test_id("person-item").filter(has_text="@bob")
    await expect(person.get_by_test_id("presence-dot")).to_have_attribute("data-online", "true")
    await person.click()
    await expect(alice.get_by_test_id("chat-title")).to_have_text("Bob")
    await expect(alice.get_by_test_id("chat-subtitle")).to_have_text("online")

    # Enter sends; Shift+Enter is a new line inside the message.
    await send(alice, "Hello Bob")
    box = alice.get_by_test_id("message-input")
    await box.type("line one")
    await box.press("Shift+Enter")
    await box.type("line two")
    await box.press("Enter")
    await expect(message(alice, "line one\nline two")).to_be_visible()
    await expect(alice.get_by_test_id("receipt")).to_have_count(2)
    await expect(alice.get_by_test_id("receipt").first).to_have_attribute("data-state", "sent")

    # Bob sees the new conversation with two unread messages, and Alice online.
    bob_item = conversation(bob, "Alice")
    await expect(bob_item.get_by_test_id("unread-badge")).to_have_text("2")
    await expect(bob_item.get_by_test_id("presence-dot")).to_have_attribute("data-online", "true")
    await bob_item.click()
    await expect(message(bob, "Hello Bob")).to_be_visible()
    await expect(message(bob, "line one\nline two")).to_be_visible()
    await expect(bob_item.get_by_test_id("unread-badge")).to_have_count(0)

    # Opening it marked it read: Alice's messages turn to ✓✓.
    for receipt in await alice.get_by_test_id("receipt").all():
        await expect(receipt).to_have_attribute("data-state", "read")
        await expect(receipt).to_have_text("✓✓")

    # Typing shows on the other side; the reply arrives live and is text, never markup.
    await bob.get_by_test_id("message-input").press_sequentially("Hi Al")
    await expect(alice.get_by_test_id("typing-indicator")).to_have_text("Bob is typing…")
    hostile = 'Hi Alice <b>bold?</b><img src=x onerror="window.pwned=1">'
    await send(bob, hostile)
    await expect(message(alice, hostile)).to_be_visible()
    await expect(alice.get_by_test_id("typing-indicator")).to_have_text("")
    assert await alice.locator("[data-testid=message-list] b").count() == 0
    assert await alice.locator("[data-testid=message-list] img").count() == 0
    assert await alice.evaluate("window.pwned") is None
    await expect(conversation(alice, "Bob").get_by_test_id("conversation-preview")).to_have_text(hostile)
    # Alice has the chat open, so she read it at once: Bob's reply shows ✓✓.
    await expect(message(bob, hostile).get_by_test_id("receipt")).to_have_attribute("data-state", "read")

    # Alice recalls her first message: both sides show it as recalled, in place.
    first = message(alice, "Hello Bob")
    seq = await first.get_attribute("data-seq")
    await first.hover()
    await first.get_by_test_id("recall-button").click()
    await alice.get_by_test_id("confirm-ok").click()
    for page, text in ((alice, "You recalled a message"), (bob, "Alice recalled a message")):
        recalled = page.locator(f"[data-testid=message][data-seq='{seq}']")
        await expect(recalled).to_have_attribute("data-status", "3")
        await expect(recalled.get_by_test_id("message-body")).to_have_text(text)
    await expect(message(bob, "Hello Bob")).to_have_count(0)

    # An image: previewed before sending, shown inline to Bob through a blob: URL.
    await alice.get_by_test_id("file-input").set_input_files({"name": "sunset.png", "mimeType": "image/png", "buffer": png(48, 32)})
    await expect(alice.get_by_test_id("attachment-name")).to_have_text("sunset.png")
    await alice.get_by_test_id("message-input").press("Enter")
    await expect(alice.get_by_test_id("attachment-preview")).to_be_hidden()
    image = bob.get_by_test_id("message-image")
    await expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    await bob.wait_for_function("() => { const i = document.querySelector('[data-testid=message-image]'); return i && i.complete && i.naturalWidth === 48; }")

    # A file: a download link that fetches with the token.
    await alice.get_by_test_id("file-input").set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"meeting at noon\n"})
    await alice.get_by_test_id("send-button").click()
    link = bob.get_by_test_id("message-file")
    await expect(link).to_contain_text("notes.txt")
    async with bob.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    assert download.suggested_filename == "notes.txt"
    assert Path(await download.path()).read_bytes() == b"meeting at noon\n"

    # Alice loses her connection. What she sends meanwhile waits in her outbox; Bob keeps
    # talking. When she is back, both sides catch up: everything once, in seq order.
    await alice_ctx.set_offline(True)
    await alice.evaluate("window.hubbub.socket.drop()")
    status = alice.get_by_test_id("connection-status")
    await expect(status).to_be_visible()
    await send(alice, "sent while offline 1")
    await send(alice, "sent while offline 2")
    await expect(alice.locator("[data-testid=message][data-pending]")).to_have_count(2)
    await expect(status).to_contain_text("2 messages will be sent")
    await send(bob, "are you there?")
    await send(bob, "hello again")
    await expect(message(bob, "hello again").get_by_test_id("receipt")).to_have_attribute("data-state", "sent")
    await asyncio.sleep(1.5)  # long enough for a wrongly delivered message to show
    assert await alice.evaluate("window.hubbub.socket.state") != "open", "the reconnect must fail while offline"
    await expect(message(bob, "sent while offline 1")).to_have_count(0)
    await expect(message(alice, "are you there?")).to_have_count(0)

    await alice_ctx.set_offline(False)
    await expect(status).to_be_hidden(timeout=20_000)
    for page in (alice, bob):
        for text in ("are you there?", "hello again", "sent while offline 1", "sent while offline 2"):
            await expect(message(page, text)).to_have_count(1)
    await expect(alice.locator("[data-testid=message][data-pending]")).to_have_count(0)
    # Alice is looking at the chat, so the catch-up was marked read too.
    await expect(message(bob, "hello again").get_by_test_id("receipt")).to_have_attribute("data-state", "read")
    await expect(conversation(alice, "Bob").get_by_test_id("unread-badge")).to_have_count(0)

    # Same messages, same order, no gaps, on both screens and on the server.
    alice_user = await rest.client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    token = (await alice_user.json())["data"]["token"]
    conversation_id = await alice.evaluate("window.hubbub.store.openId")
    response = await rest.client.get(f"/api/conversations/{conversation_id}/messages", headers={"Authorization": f"Bearer {token}"})
    server_seqs = [m["seq"] for m in (await response.json())["data"]]
    assert server_seqs == list(range(1, len(server_seqs) + 1))
    assert await seqs(alice) == server_seqs
    assert await seqs(bob) == server_seqs
    alice_bodies, bob_bodies = await bodies(alice), await bodies(bob)
    assert alice_bodies[-4:] == bob_bodies[-4:]
    assert alice_bodies.index("are you there?") < alice_bodies.index("sent while offline 1") < alice_bodies.index("sent while offline 2")

    assert alice_errors == [] and bob_errors == [], (alice_errors, bob_errors)
    await alice_ctx.close()
    await bob_ctx.close()


async def test_history_groups_devices_and_phone_layout(browser, base_url, rest):
    """Older pages load on scroll-up without holes; login screen; group creation; unread
    badges kept right across two devices; times; the one-column phone layout; logout."""
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    for n in range(1, 131):
        sent = await carol.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": f"message {n}"})
    await alice.ok("POST", f"/api/conversations/{sent['conversation_id']}/read", json={"seq": 30})

    context, page, errors = await signed_in(browser, base_url, "alice")

    # Times as the walk-through shows them (local time of the browser).
    formatted = await page.evaluate(
        """() => {
            const f = window.hubbub.formatTime, now = new Date(2024, 5, 15, 12, 0);
            return [new Date(2024, 5, 15, 9, 5), new Date(2024, 5, 14, 23, 59), new Date(2024, 2, 3, 7, 8), new Date(2023, 11, 31, 22, 1)]
                .map(d => f(d.getTime(), now));
        }"""
    )
    assert formatted == ["09:05", "Yesterday 23:59", "03-03 07:08", "2023-12-31 22:01"]

    # 100 unread; opening starts at the first unread one, scrolling up brings the older ones.
    carol_item = conversation(page, "carol")
    await expect(carol_item.get_by_test_id("unread-badge")).to_have_text("99+")
    await carol_item.click()
    await expect(page.get_by_test_id("unread-divider")).to_be_visible()
    await expect(message(page, "message 31")).to_be_visible()
    await expect(message(page, "message 130")).to_be_attached()
    await expect(message(page, "message 1")).to_have_count(0)
    messages = page.get_by_test_id("message-list")
    for _ in range(10):
        if await message(page, "message 1").count():
            break
        await messages.evaluate("el => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); }")
        await asyncio.sleep(0.3)
    await expect(message(page, "message 1")).to_have_count(1)
    await expect(page.get_by_test_id("older-status")).to_have_text("This is the beginning of the conversation.")
    assert await seqs(page) == list(range(1, 131))
    await messages.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    await expect(carol_item.get_by_test_id("unread-badge")).to_have_count(0)

    # A group: name, members picked from the directory.
    await page.get_by_test_id("new-group-button").click()
    dialog = page.get_by_test_id("group-dialog")
    await dialog.get_by_test_id("group-name").fill("Weekend plans")
    for name in ("bob", "carol"):
        await dialog.get_by_test_id("group-search").fill(name)
        await dialog.get_by_test_id("group-candidate").filter(has_text=f"@{name}").locator("input").check()
    await expect(dialog.get_by_test_id("group-selected")).to_contain_text("bob")
    await dialog.get_by_test_id("group-create").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_test_id("chat-title")).to_have_text("Weekend plans")
    await expect(page.get_by_test_id("chat-subtitle")).to_contain_text("3 members")
    group_id = await page.evaluate("window.hubbub.store.openId")
    bobs = await bob.ok("GET", "/api/conversations")
    assert [c["name"] for c in bobs if c["type"] == "group"] == ["Weekend plans"]
    await carol.ok("POST", f"/api/conversations/{group_id}/messages", json={"content": "Hiking on Saturday?"})
    hiking = message(page, "Hiking on Saturday?")
    await expect(hiking).to_be_visible()
    await expect(hiking.get_by_test_id("message-sender")).to_have_text("carol")

    # A second device of Alice's (same browser profile, so the same session).
    other = await context.new_page()
    other.on("pageerror", lambda error: errors.append(str(error)))
    await other.goto(base_url)
    await wait_connected(other)
    await carol.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "are you coming?"})
    # The first device shows the group, so the direct chat's badge goes up on both...
    for device in (page, other):
        await expect(conversation(device, "carol").get_by_test_id("unread-badge")).to_have_text("1")
    # ...and reading it on one clears it on the other (message.read to one's own devices).
    await conversation(other, "carol").click()
    await expect(message(other, "are you coming?")).to_be_visible()
    await expect(conversation(page, "carol").get_by_test_id("unread-badge")).to_have_count(0)
    await other.close()

    # A recalled unread message no longer counts.
    sent = await carol.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "oops"})
    await expect(conversation(page, "carol").get_by_test_id("unread-badge")).to_have_text("1")
    await carol.ok("POST", f"/api/messages/{sent['id']}/recall")
    await expect(conversation(page, "carol").get_by_test_id("unread-badge")).to_have_count(0)
    await expect(conversation(page, "carol").get_by_test_id("conversation-preview")).to_have_text("Message recalled")

    # Pushes of concurrent senders may arrive out of order (seq 2 before 1) or twice; the
    # badge counts each message once. (Fed to the client directly: the server cannot be
    # made to reorder on demand.)
    direct = await bob.ok("POST", "/api/conversations", json={"type": "direct", "peer_id": alice.id})
    await expect(conversation(page, "bob")).to_be_visible()
    await page.evaluate(
        """([conversationId, bobId, aliceId]) => {
            const push = (seq) => window.hubbub.socket.dispatchEvent(new CustomEvent("push", { detail: { type: "message.new", data: {
                id: 100000 + seq, conversation_id: conversationId, seq, sender_id: bobId, receiver_id: aliceId,
                content: `out of order ${seq}`, msg_type: 1, status: 1, client_msg_id: null, created_at: Date.now() } } }));
            push(2); push(1); push(2);
        }""",
        [direct["id"], bob.id, alice.id],
    )
    await expect(conversation(page, "bob").get_by_test_id("unread-badge")).to_have_text("2")
    await expect(conversation(page, "bob").get_by_test_id("conversation-preview")).to_have_text("out of order 2")

    # Phone width: one column, the list or the conversation, with a way back.
    await page.set_viewport_size(PHONE)
    sidebar, chat = page.get_by_test_id("sidebar"), page.get_by_test_id("chat")
    await expect(chat).to_be_visible()
    await expect(sidebar).to_be_hidden()
    await page.get_by_test_id("back-button").click()
    await expect(sidebar).to_be_visible()
    await expect(chat).to_be_hidden()
    await conversation(page, "Weekend plans").click()
    await expect(chat).to_be_visible()
    await expect(sidebar).to_be_hidden()
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing sticks out sideways on a phone"
    await page.get_by_test_id("back-button").click()

    # Sign out: the token is revoked and the sign-in screen is back, also after a reload.
    await page.get_by_test_id("logout-button").click()
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    assert await page.evaluate("localStorage.getItem('hubbub.token')") is None
    await page.reload()
    await expect(page.get_by_test_id("login-form")).to_be_visible()

    assert errors == [], errors
    await context.close()


async def test_main_screen(browser, base_url, rest, tmp_path):
    """A lived-in account drawn from history alone (REST-sent text, image and file, a group,
    unread badges, presence), which is also the screenshot in docs/."""
    import aiohttp

    people = {}
    for username, nickname in (("maya", "Maya Chen"), ("leo", "Leo Park"), ("sam", "Sam Rivera"), ("priya", "Priya Natarajan")):
        user = await rest.make(username, PASSWORD)
        await user.ok("PATCH", "/api/users/me", json={"nickname": nickname})
        people[username] = user
    maya, leo, sam, priya = people.values()

    async def say(user, text, to=None, conversation_id=None):
        if conversation_id is not None:
            return await user.ok("POST", f"/api/conversations/{conversation_id}/messages", json={"content": text})
        return await user.ok("POST", "/api/messages", json={"receiver_id": to.id, "content": text})

    await say(priya, "Thanks for the review notes!", to=maya)
    await say(maya, "Any time. The new onboarding flow reads much better.", to=priya)
    group = await maya.ok("POST", "/api/conversations", json={"type": "group", "name": "Design team", "member_ids": [leo.id, sam.id, priya.id]})
    await say(maya, "Standup moved to 10:30 tomorrow.", conversation_id=group["id"])
    await say(sam, "Works for me.", conversation_id=group["id"])
    await say(priya, "Same here, see you then.", conversation_id=group["id"])

    await say(leo, "Morning! Did you get a chance to look at the new landing page?", to=maya)
    await say(maya, "Just now. The hero section is lovely.\nCould the call-to-action be a bit bigger?", to=leo)
    await say(leo, "Sure, here is the updated mock-up:", to=maya)
    form = aiohttp.FormData()
    form.add_field("file", png(360, 220), filename="landing-v2.png", content_type="image/png")
    image = await leo.ok("POST", "/api/files", data=form)
    direct = (await leo.ok("POST", "/api/messages", json={"receiver_id": maya.id, "content": f'{{"file_id": {image["id"]}}}', "msg_type": 2}))["conversation_id"]
    form = aiohttp.FormData()
    form.add_field("file", b"%PDF-1.4\n% landing page copy\n", filename="landing-copy.pdf", content_type="application/pdf")
    pdf = await leo.ok("POST", "/api/files", data=form)
    await leo.ok("POST", "/api/messages", json={"receiver_id": maya.id, "content": f'{{"file_id": {pdf["id"]}}}', "msg_type": 3})
    await say(maya, "Perfect, that's much clearer. Ship it!", to=leo)
    await say(leo, "On it", to=maya)
    await leo.ok("POST", f"/api/conversations/{direct}/read", json={"seq": 100})
    await say(sam, "Lunch at the usual place?", to=maya)
    await say(sam, "I can book a table for 12:30", to=maya)
    # Leo and Sam are online; Priya is not.
    await leo.connect()
    await sam.connect()

    context, page, errors = await signed_in(browser, base_url, "maya")
    await expect(conversation(page, "Sam Rivera").get_by_test_id("unread-badge")).to_have_text("2")
    await expect(conversation(page, "Sam Rivera").get_by_test_id("presence-dot")).to_have_attribute("data-online", "true")
    await expect(conversation(page, "Priya Natarajan").get_by_test_id("presence-dot")).to_have_attribute("data-online", "false")
    await conversation(page, "Leo Park").click()
    await expect(message(page, "On it")).to_be_visible()
    await page.wait_for_function("() => { const i = document.querySelector('[data-testid=message-image]'); return i && i.complete && i.naturalWidth === 360; }")
    await expect(page.get_by_test_id("message-file")).to_contain_text("landing-copy.pdf")
    await expect(message(page, "Perfect, that's much clearer. Ship it!").get_by_test_id("receipt")).to_have_attribute("data-state", "read")
    await expect(page.get_by_test_id("chat-subtitle")).to_have_text("online")
    await expect(conversation(page, "Leo Park").get_by_test_id("unread-badge")).to_have_count(0)

    target = SCREENSHOT if os.environ.get("HUBBUB_UPDATE_SCREENSHOT") == "1" else tmp_path / "screenshot.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(target))
    assert target.read_bytes().startswith(b"\x89PNG")
    assert errors == [], errors
    await context.close()
