"""Nothing typed is lost: a long paste is not cut but held back with a warning, an upload
shows progress, can be cancelled and leaves the composer free, a file over the limit is
refused before it is sent, and a refusal that a retry cannot cure offers no "Retry"."""

from __future__ import annotations

import asyncio
import json

from tests.browser_kit import (  # the fixtures among these are found by pytest here
    PASSWORD,
    base_url,
    browser,
    conversation,
    expect,
    login,
    message,
    open_page,
    png,
    pytestmark,
    rest,
    server,
    wait_connected,
)


async def open_direct(browser, base_url, rest):
    """Alice in the browser with her direct chat with Bob open; Bob over REST."""
    alice = await rest.make("alice", PASSWORD)
    bob = await rest.make("bob", PASSWORD)
    direct = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})
    context, page, errors = await open_page(browser, base_url)
    await login(page, "alice")
    await wait_connected(page)
    await conversation(page, "bob").click()
    await expect(message(page, "hi")).to_be_visible()
    return context, page, errors, bob, direct["conversation_id"]


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
