"""Nothing typed is lost: a long paste is not cut but held back with a warning, an upload
shows progress, can be cancelled and leaves the composer free, a file over the limit is
refused before it is sent, and a refusal that a retry cannot cure offers no "Retry"."""

from __future__ import annotations

import asyncio
import json
import re

from tests.browser_kit import (
    conversation,
    expect,
    login,
    open_direct,
    png,
    pytestmark,
    wait_connected,
)


async def history(user, conversation_id: int) -> list[dict]:
    return await user.ok("GET", f"/api/conversations/{conversation_id}/messages")


def refuse_with(status: int):
    """A route handler answering like the server refusing with `status`."""
    body = json.dumps({"code": status, "message": f"refused {status}", "data": None})

    async def handler(route):
        await route.fulfill(status=status, body=body, content_type="application/json")

    return handler


async def test_a_long_paste_is_kept_whole_and_held_back_over_the_limit(browser, base_url, rest):
    context, page, errors, bob, conversation_id = await open_direct(browser, base_url, rest)
    box, limit, send = page.get_by_test_id("message-input"), page.get_by_test_id("composer-limit"), page.get_by_test_id("send-button")

    await expect(limit).to_be_hidden()
    await box.focus()
    await page.keyboard.insert_text("x" * 5000)  # as a paste inserts it
    assert await box.evaluate("el => el.value.length") == 5000, "the paste is not cut"
    await expect(limit).to_have_attribute("data-over", "true")
    await expect(limit).to_contain_text("5,000 / 4,000: 1,000 characters over the limit")
    await expect(send).to_be_disabled()
    await box.press("Enter")
    await asyncio.sleep(0.3)
    assert await box.evaluate("el => el.value.length") == 5000
    await expect(page.locator("[data-testid=message][data-pending]")).to_have_count(0)

    # Characters count as the server counts them: an emoji is one, not two UTF-16 units.
    await box.fill("x" * 3999 + "😀")
    await expect(limit).to_have_text("4,000 / 4,000")
    await expect(send).to_be_enabled()
    await send.click()
    await expect(box).to_have_value("")
    await expect(limit).to_be_hidden()
    await expect(page.locator("[data-testid=message][data-pending]")).to_have_count(0)
    assert (await history(bob, conversation_id))[-1]["content"] == "x" * 3999 + "😀"
    assert errors == [], errors
    await context.close()


async def test_uploads_show_progress_can_be_cancelled_and_keep_the_composer_free(browser, base_url, rest):
    context, page, errors, bob, conversation_id = await open_direct(browser, base_url, rest)
    box = page.get_by_test_id("message-input")
    release = asyncio.Event()

    async def held(route):
        await release.wait()
        try:
            await route.continue_()
        except Exception:  # the page cancelled it meanwhile
            pass

    await page.route("**/api/files", held)

    # A file goes up; meanwhile a caption is sent and more is typed.
    await page.get_by_test_id("file-input").set_input_files({"name": "plan.png", "mimeType": "image/png", "buffer": png(40, 30)})
    await box.fill("the plan, see above")
    await box.press("Enter")
    upload = page.locator("[data-testid=message][data-pending=uploading]")
    await expect(upload.get_by_test_id("upload-progress")).to_be_attached()
    await expect(upload.get_by_test_id("pending-state")).to_contain_text("Uploading")
    await box.press_sequentially("typed while it uploads")
    # The caption waits for the file: messages arrive in the order they were sent.
    await asyncio.sleep(0.5)
    assert [m["content"] for m in await history(bob, conversation_id)] == ["hi"]
    release.set()
    await expect(page.locator("[data-testid=message][data-pending]")).to_have_count(0)
    await expect(page.get_by_test_id("message-image")).to_have_count(1)
    sent = await history(bob, conversation_id)
    assert [m["msg_type"] for m in sent] == [1, 2, 1] and sent[-1]["content"] == "the plan, see above"
    await expect(box).to_have_value("typed while it uploads")

    # Another upload, cancelled: it disappears and nothing is sent.
    await box.fill("")
    release.clear()
    await page.get_by_test_id("file-input").set_input_files({"name": "draft.txt", "mimeType": "text/plain", "buffer": b"draft"})
    await page.get_by_test_id("send-button").click()
    await page.get_by_test_id("upload-cancel").click()
    await expect(page.get_by_test_id("upload")).to_have_count(0)
    release.set()
    await asyncio.sleep(0.5)
    assert len(await history(bob, conversation_id)) == 3

    # Refused before sending: a file over the upload limit (PROTOCOL §5: 20 MiB).
    await page.unroute("**/api/files")
    uploads = []
    page.on("request", lambda request: uploads.append(request.url) if request.url.endswith("/api/files") else None)
    await page.get_by_test_id("file-input").set_input_files({"name": "huge.bin", "mimeType": "application/octet-stream", "buffer": b"\0" * (21 * 1024 * 1024)})
    await expect(page.get_by_test_id("toast")).to_have_text("“huge.bin” is 21 MB; files can be at most 20 MB.")
    await expect(page.get_by_test_id("attachment-preview")).to_be_hidden()
    assert uploads == []

    # A refusal that a retry cannot cure (400) offers no Retry; a server fault (503) does.
    for status, retry in ((400, 0), (503, 1)):
        await page.route("**/api/files", refuse_with(status))
        await page.get_by_test_id("file-input").set_input_files({"name": f"f{status}.txt", "mimeType": "text/plain", "buffer": b"x"})
        await page.get_by_test_id("send-button").click()
        failed = page.locator("[data-testid=message][data-pending=failed]")
        await expect(failed.get_by_test_id("send-error")).to_contain_text(f"Not sent (refused {status})")
        await expect(failed.get_by_test_id("retry-send")).to_have_count(retry)
        await failed.get_by_test_id("discard-send").click()
        await expect(failed).to_have_count(0)
        await page.unroute("**/api/files")
    assert errors == [], errors
    await context.close()


async def test_typed_text_outlives_a_reload_and_an_edit_and_goes_at_sign_out(browser, base_url, rest):
    context, page, errors, bob, conversation_id = await open_direct(browser, base_url, rest)
    box = page.get_by_test_id("message-input")
    await box.fill("sent first")
    await box.press("Enter")
    await expect(page.locator("[data-testid=message]:not([data-pending])").filter(has_text="sent first")).to_have_count(1)

    # Half a message, then an edit of the last one in between: the half message comes back.
    await box.fill("half a thought")
    await page.locator("[data-testid=message]").filter(has_text="sent first").hover()
    await page.locator("[data-testid=message]").filter(has_text="sent first").get_by_test_id("edit-button").click()
    await expect(box).to_have_value("sent first")
    await box.press("Escape")
    await expect(box).to_have_value("half a thought")

    # A reload (or a crashed tab) keeps it.
    await page.wait_for_timeout(400)  # drafts are written a moment after the last keystroke
    await page.reload()
    await wait_connected(page)
    await expect(page.get_by_test_id("chat-title")).to_have_text("bob")
    await expect(box).to_have_value("half a thought")

    # Signing out on purpose forgets it.
    await page.get_by_test_id("logout-button").click()
    await login(page, "alice")
    await wait_connected(page)
    await conversation(page, "bob").click()
    await expect(box).to_have_value("")
    assert await page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('hubbub.drafts'))") == []
    assert errors == [], errors
    await context.close()


async def test_upload_progress_moves_as_the_file_goes_up(browser, base_url, rest):
    context, page, errors, bob, conversation_id = await open_direct(browser, base_url, rest)
    # A slow uplink (DevTools' network emulation), so that the upload takes a few seconds.
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 400_000})

    await page.get_by_test_id("file-input").set_input_files({"name": "report.bin", "mimeType": "application/octet-stream", "buffer": bytes(range(256)) * 6000})
    await page.get_by_test_id("send-button").click()
    upload = page.locator("[data-testid=message][data-pending=uploading]")
    # Part of the way: the bar and the words say how far, and both move on.
    await page.wait_for_function("() => { const bar = document.querySelector('[data-testid=upload-progress]'); return bar && bar.value >= 10 && bar.value <= 80; }")
    await expect(upload.get_by_test_id("pending-state")).to_have_text(re.compile(r"^Uploading ([1-9]\d)%$"))
    early = await upload.get_by_test_id("upload-progress").evaluate("bar => bar.value")
    await page.wait_for_function("(early) => { const bar = document.querySelector('[data-testid=upload-progress]'); return !bar || bar.value > early; }", arg=early)
    await cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    await expect(page.locator("[data-testid=message][data-pending]")).to_have_count(0)
    sent = await history(bob, conversation_id)
    assert [m["msg_type"] for m in sent] == [1, 3], sent
    assert errors == [], errors
    await context.close()


async def test_each_conversation_keeps_its_own_unsent_text(browser, base_url, rest):
    context, page, errors, bob, conversation_id = await open_direct(browser, base_url, rest)
    alice_id = await page.evaluate("window.hubbub.store.me.id")
    await bob.ok("POST", "/api/conversations", json={"type": "group", "name": "Plans", "member_ids": [alice_id]})
    box = page.get_by_test_id("message-input")

    await box.fill("for bob, not finished")
    await conversation(page, "Plans").click()
    await expect(page.get_by_test_id("chat-title")).to_have_text("Plans")
    await expect(box).to_have_value("")
    await box.fill("for the plans group")
    await conversation(page, "bob").click()
    await expect(box).to_have_value("for bob, not finished")
    # A message arriving meanwhile leaves the text alone.
    await bob.ok("POST", f"/api/conversations/{conversation_id}/messages", json={"content": "still there?"})
    await expect(page.get_by_test_id("message-body").filter(has_text="still there?")).to_be_visible()
    await expect(box).to_have_value("for bob, not finished")
    await conversation(page, "Plans").click()
    await expect(box).to_have_value("for the plans group")
    # Nothing was sent anywhere.
    assert [m["content"] for m in await history(bob, conversation_id)] == ["hi", "still there?"]
    assert errors == [], errors
    await context.close()


async def test_messages_written_offline_outlive_closing_the_tab(browser, base_url, rest):
    context, page, errors, bob, conversation_id = await open_direct(browser, base_url, rest)
    await context.set_offline(True)
    await page.evaluate("window.hubbub.socket.drop()")
    box = page.get_by_test_id("message-input")
    for text in ("written on the train", "and another"):
        await box.fill(text)
        await box.press("Enter")
    await expect(page.locator("[data-testid=message][data-pending]")).to_have_count(2)
    await box.fill("not finished yet")
    await page.wait_for_timeout(400)  # drafts are written a moment after the last keystroke
    # The tab is closed while offline; later, online, the app is opened again.
    await page.close()
    await context.set_offline(False)
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(base_url)
    await wait_connected(page)
    await conversation(page, "bob").click()
    await expect(page.locator("[data-testid=message][data-pending]")).to_have_count(0)
    assert [m["content"] for m in await history(bob, conversation_id)] == ["hi", "written on the train", "and another"]
    await expect(page.get_by_test_id("message-input")).to_have_value("not finished yet")
    assert errors == [], errors
    await context.close()
