"""Accessibility of the main screens (issue #15, quality bar): axe-core (vendored in
tests/vendor/axe-core) finds no serious or critical violation on the sign-in and sign-up
screens, the chat with every kind of message, the group panel, the profile, the Ctrl+K
switcher, the image viewer, the menus, and the list and chat at phone width; and the group's
stored notices, the composer's states (over the limit, an attachment, uploading, refused), the
recall confirmation, the new-group dialog, a draft chat and the offline banners."""

from __future__ import annotations

import asyncio
import json

from aiohttp import FormData

from tests.browser_kit import (
    PHONE,
    accessibility_problems,
    accounts,
    conversation,
    expect,
    login,
    message,
    notice,
    open_page,
    png,
    pytestmark,
    send,
    signed_in,
    wait_connected,
)


async def test_main_screens_have_no_serious_accessibility_violations(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Alice"})
    team = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Team", "member_ids": [bob.id, carol.id]})
    messages = f"/api/conversations/{team['id']}/messages"
    first = await bob.ok("POST", messages, json={"content": "Plan: https://example.org/plan @alice"})
    await carol.ok("POST", messages, json={"content": "Agreed", "reply_to": first["id"]})
    await carol.ok("PUT", f"/api/messages/{first['id']}/reactions/%F0%9F%91%8D")
    form = FormData()
    form.add_field("file", png(48, 32), filename="chart.png", content_type="image/png")
    upload = await bob.ok("POST", "/api/files", data=form)
    await bob.ok("POST", messages, json={"content": '{"file_id": %d}' % upload["id"], "msg_type": 2})
    form = FormData()
    form.add_field("file", b"minutes\n", filename="minutes.txt", content_type="text/plain")
    upload = await bob.ok("POST", "/api/files", data=form)
    await bob.ok("POST", messages, json={"content": '{"file_id": %d}' % upload["id"], "msg_type": 3})
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})

    problems: dict[str, list[str]] = {}

    async def check(page, screen: str, context: str = "document") -> None:
        found = await accessibility_problems(page, context=context)
        if found:
            problems[screen] = found

    context, page, errors = await open_page(browser, base_url)
    # Nothing comes from the internet: every request of every screen below goes to this server.
    elsewhere = []
    context.on("request", lambda request: elsewhere.append(request.url) if not request.url.startswith((base_url, "blob:", "data:")) else None)
    await page.reload()
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    await check(page, "sign in")
    await page.get_by_test_id("show-register").click()
    await check(page, "sign up")
    await page.get_by_test_id("show-login").click()

    await login(page, "alice")
    await wait_connected(page)
    await check(page, "list, nothing open")
    await conversation(page, "Team").click()
    await expect(message(page, "Agreed")).to_be_visible()
    await send(page, "Thanks @bob")
    await expect(page.locator("[data-testid=message]:not([data-pending])").filter(has_text="Thanks @bob")).to_have_count(1)
    await message(page, "Agreed").hover()
    await message(page, "Agreed").get_by_test_id("reply-button").click()
    await page.get_by_test_id("message-input").type("@c")
    await expect(page.get_by_test_id("mention-option")).to_have_count(1)
    await check(page, "group chat, replying, suggestions")
    await page.get_by_test_id("message-input").press("Escape")
    await page.get_by_test_id("message-input").press("Escape")

    # The dialogs of an own message: its versions, who read it, forwarding it.
    box = page.get_by_test_id("message-input")
    await box.fill("")
    await box.press("ArrowUp")
    await expect(box).to_have_value("Thanks @bob")
    await box.fill("Thanks @bob!")
    await box.press("Enter")
    await page.get_by_test_id("edited-mark").click()
    await check(page, "edit history", "[data-testid=edit-history]")
    await page.get_by_test_id("edit-history-close").click()
    await bob.ok("POST", f"/api/conversations/{team['id']}/read", json={"seq": 100})
    await message(page, "Thanks @bob!").get_by_test_id("read-by").click()
    await check(page, "read by", "[data-testid=readers-dialog]")
    await page.get_by_test_id("readers-close").click()
    await message(page, "Thanks @bob!").hover()
    await message(page, "Thanks @bob!").get_by_test_id("forward-button").click()
    await check(page, "forward", "[data-testid=forward-dialog]")
    await page.get_by_test_id("forward-cancel").click()

    await message(page, "Agreed").get_by_test_id("react-button").click()
    await check(page, "reaction picker")
    await page.keyboard.press("Escape")
    row = page.locator(".conversation-row").filter(has=conversation(page, "bob"))
    await row.get_by_test_id("conversation-menu-button").click()
    await check(page, "conversation menu")
    await page.keyboard.press("Escape")

    await page.get_by_test_id("chat-info-button").click()
    await expect(page.get_by_test_id("member-name")).to_have_count(3)
    await check(page, "group panel", "[data-testid=info-dialog]")
    await page.get_by_test_id("info-close").click()
    await page.get_by_test_id("me").click()
    await check(page, "profile", "[data-testid=profile-dialog]")
    await page.get_by_test_id("profile-close").click()
    await page.keyboard.press("Control+k")
    await check(page, "jump to", "[data-testid=quick-switch]")
    await page.keyboard.press("Escape")
    await page.get_by_test_id("image-open").click()
    await page.wait_for_function("() => document.querySelector('[data-testid=lightbox-image]').complete")
    await check(page, "image viewer", "[data-testid=lightbox]")
    await page.keyboard.press("Escape")
    await page.get_by_test_id("tab-people").click()
    await page.get_by_test_id("people-search").fill("c")
    await expect(page.get_by_test_id("person-item")).to_have_count(1)
    await check(page, "people")
    await page.get_by_test_id("tab-chats").click()
    await page.get_by_test_id("message-search").fill("plan")
    await expect(page.get_by_test_id("search-hit")).to_have_count(1)
    await check(page, "search results")

    assert elsewhere == [], elsewhere

    phone_ctx, phone, phone_errors = await signed_in(browser, base_url, "bob", viewport=PHONE)
    await check(phone, "phone: list")
    await conversation(phone, "Team").click()
    await expect(message(phone, "Thanks @bob!")).to_be_visible()
    await check(phone, "phone: chat")

    assert problems == {}, "\n".join(f"{screen}: {line}" for screen, lines in problems.items() for line in lines)
    assert errors == [] and phone_errors == [], (errors, phone_errors)
    await context.close()
    await phone_ctx.close()


async def test_group_notices_and_the_composers_states_have_no_serious_violations(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Alice"})
    trip = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Trip", "member_ids": [bob.id]})
    gid = trip["id"]
    await bob.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "hello all"})
    await alice.ok("POST", f"/api/conversations/{gid}/members", json={"user_ids": [carol.id]})
    await alice.ok("PATCH", f"/api/conversations/{gid}", json={"name": "Lake trip"})
    await alice.ok("PATCH", f"/api/conversations/{gid}/members/{bob.id}", json={"role": "admin"})
    await carol.ok("DELETE", f"/api/conversations/{gid}/members/{carol.id}")

    problems: dict[str, list[str]] = {}

    async def check(page, screen: str, context: str = "document") -> None:
        found = await accessibility_problems(page, context=context)
        if found:
            problems[screen] = found

    context, page, errors = await signed_in(browser, base_url, "bob")
    await conversation(page, "Lake trip").click()
    for text in ("Alice created the group", "Alice added carol", "Alice renamed the group to “Lake trip”", "Alice made you an admin", "carol left the group"):
        await expect(notice(page, text)).to_be_visible()
    await check(page, "group with notices")

    # The composer over the limit: the counter and the held-back send button.
    box = page.get_by_test_id("message-input")
    await box.focus()
    await page.keyboard.insert_text("x" * 4100)
    await expect(page.get_by_test_id("composer-limit")).to_have_attribute("data-over", "true")
    await check(page, "composer over the limit")
    await box.fill("")

    # A file on its way up (held by the test): its progress bar and Cancel.
    release = asyncio.Event()

    async def held(route):
        await release.wait()
        await route.fulfill(status=400, content_type="application/json", body=json.dumps({"code": 400, "message": "not this file", "data": None}))

    await page.route("**/api/files", held)
    await page.get_by_test_id("file-input").set_input_files({"name": "plan.png", "mimeType": "image/png", "buffer": png(40, 30)})
    await expect(page.get_by_test_id("attachment-preview")).to_be_visible()
    await check(page, "composer with an attachment")
    await page.get_by_test_id("send-button").click()
    await expect(page.get_by_test_id("upload-progress")).to_be_visible()
    await box.press_sequentially("typed meanwhile")
    await check(page, "uploading")

    # Refused for good: the failed row with Discard and no Retry.
    release.set()
    await expect(page.get_by_test_id("send-error")).to_contain_text("not this file")
    await check(page, "failed upload")
    await page.get_by_test_id("discard-send").click()

    # The confirmation before a recall.
    await send(page, "typed meanwhile")
    mine = page.locator("[data-testid=message]:not([data-pending])").filter(has_text="typed meanwhile")
    await mine.hover()
    await mine.get_by_test_id("recall-button").click()
    await check(page, "recall confirmation", "[data-testid=confirm-dialog]")
    await page.get_by_test_id("confirm-cancel").click()

    # The new-group dialog with people picked, a draft chat with someone, the offline banner.
    await page.get_by_test_id("new-group-button").click()
    dialog = page.get_by_test_id("group-dialog")
    await dialog.get_by_test_id("group-name").fill("Lunch")
    await dialog.get_by_test_id("group-search").fill("ca")
    await dialog.get_by_test_id("group-candidate").filter(has_text="@carol").locator("input").check()
    await check(page, "new group", "[data-testid=group-dialog]")
    await dialog.get_by_test_id("group-cancel").click()
    await page.get_by_test_id("tab-people").click()
    await page.get_by_test_id("people-search").fill("carol")
    await page.get_by_test_id("person-item").filter(has_text="@carol").click()
    await expect(page.get_by_test_id("older-status")).to_have_text("No messages yet. Say hello!")
    await check(page, "draft chat")
    await context.set_offline(True)
    await page.evaluate("window.hubbub.socket.drop()")
    await expect(page.get_by_test_id("connection-status")).to_be_visible()
    await check(page, "offline")
    await context.set_offline(False)
    await wait_connected(page)

    phone_ctx, phone, phone_errors = await signed_in(browser, base_url, "alice", viewport=PHONE)
    await conversation(phone, "Lake trip").click()
    await expect(notice(phone, "carol left the group")).to_be_visible()
    await check(phone, "phone: group with notices")
    await phone_ctx.set_offline(True)
    await phone.evaluate("window.hubbub.socket.drop()")
    await expect(phone.get_by_test_id("chat-connection")).to_be_visible()
    await check(phone, "phone: offline in a chat")
    await phone_ctx.set_offline(False)

    assert problems == {}, "\n".join(f"{screen}: {line}" for screen, lines in problems.items() for line in lines)
    assert errors == [] and phone_errors == [], (errors, phone_errors)
    await context.close()
    await phone_ctx.close()
