"""The main screens of the browser client, drawn from a lived-in group (replies, reactions,
mentions, an edit, an admin), checked as a person would see them, and photographed for the
README. The pictures go to docs/screens/ only when HUBBUB_UPDATE_SCREENSHOT=1 (else to a
temporary directory), so that an ordinary test run leaves the tree clean:
    HUBBUB_UPDATE_SCREENSHOT=1 python -m pytest tests/test_browser_screenshots.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.browser_kit import (
    PASSWORD,
    PHONE,
    conversation,
    expect,
    login,
    message,
    notice,
    open_page,
    pytestmark,
    signed_in,
    wait_connected,
)

SCREENS = Path(__file__).resolve().parent.parent / "docs" / "screens"


async def test_main_screens(browser, base_url, rest, tmp_path):
    folder = SCREENS if os.environ.get("HUBBUB_UPDATE_SCREENSHOT") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    people = {}
    for username, nickname in (("maya", "Maya Chen"), ("leo", "Leo Park"), ("sam", "Sam Rivera"), ("priya", "Priya Natarajan")):
        people[username] = await rest.make(username, PASSWORD)
        await people[username].ok("PATCH", "/api/users/me", json={"nickname": nickname})
    maya, leo, sam, priya = people.values()
    group = await maya.ok("POST", "/api/conversations", json={"type": "group", "name": "Design team", "member_ids": [leo.id, sam.id]})
    messages = f"/api/conversations/{group['id']}/messages"

    async def say(user, text, **extra):
        return await user.ok("POST", messages, json={"content": text, **extra})

    plan = await say(maya, "Launch checklist for Friday is in the shared folder.")
    await say(sam, "Copy is final, I'll send the last screenshots tonight")
    # Stored notices among the messages: Priya joins mid-way, Leo becomes an admin at the end.
    await maya.ok("POST", f"/api/conversations/{group['id']}/members", json={"user_ids": [priya.id]})
    question = await say(priya, "@maya do we still need the legal review?")
    answer = await say(maya, "Yes, @priya, Leo booked it for Thursday.", reply_to=question["id"])
    await maya.ok("PATCH", f"/api/messages/{answer['id']}", json={"content": "Yes, @priya: Leo booked it for Thursday at 10."})
    for user, emoji in ((leo, "👍"), (sam, "👍"), (priya, "🎉")):
        await user.ok("PUT", f"/api/messages/{plan['id']}/reactions/{emoji}")
    await say(leo, "Confirmed with legal. @all standup at 10:30 tomorrow")
    await say(sam, "See you there")
    await maya.ok("PATCH", f"/api/conversations/{group['id']}/members/{leo.id}", json={"role": "admin"})
    await sam.ok("POST", "/api/messages", json={"receiver_id": maya.id, "content": "Lunch at the usual place?"})
    await priya.ok("POST", "/api/messages", json={"receiver_id": maya.id, "content": "Thanks for the review notes!"})
    await leo.connect()
    await sam.connect()

    context, page, errors = await open_page(browser, base_url)
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    await page.screenshot(path=str(folder / "sign-in.png"))
    await login(page, "maya")
    await wait_connected(page)
    await conversation(page, "Design team").click()
    await expect(message(page, "See you there")).to_be_visible()
    edited = message(page, "Yes, @priya: Leo booked it for Thursday at 10.")
    await expect(edited.get_by_test_id("quote")).to_contain_text("Priya Natarajan")
    await expect(edited.get_by_test_id("edited-mark")).to_be_visible()
    await expect(message(page, "Launch checklist for Friday is in the shared folder.").get_by_test_id("reaction")).to_have_text(["👍2", "🎉1"])
    await expect(message(page, "@maya do we still need the legal review?")).to_have_class(re.compile(r"\bmentions-me\b"))
    await expect(conversation(page, "Design team").get_by_test_id("unread-badge")).to_have_count(0)  # read as seen
    # The group's stored notices sit among the messages, where they happened.
    await expect(notice(page, "You added Priya Natarajan")).to_be_visible()
    await expect(notice(page, "You made Leo Park an admin")).to_be_visible()
    box = page.get_by_test_id("message-input")
    await box.type("Great, thanks @l")
    await expect(page.get_by_test_id("mention-option")).to_have_count(1)
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(folder / "group-chat.png"))

    await box.fill("")
    await page.get_by_test_id("chat-info-button").click()
    await expect(page.get_by_test_id("member").filter(has_text="Leo Park").get_by_test_id("member-presence")).to_contain_text("admin")
    await page.screenshot(path=str(folder / "group-panel.png"))
    await page.get_by_test_id("info-close").click()

    await page.get_by_test_id("message-search").fill("legal")
    await expect(page.get_by_test_id("search-hit")).to_have_count(2)
    await page.screenshot(path=str(folder / "search.png"))

    phone_ctx, phone, phone_errors = await signed_in(browser, base_url, "priya", viewport=PHONE)
    await expect(conversation(phone, "Design team").get_by_test_id("mention-badge")).to_be_visible()
    await phone.screenshot(path=str(folder / "phone-list.png"))
    await conversation(phone, "Design team").click()
    await expect(message(phone, "See you there")).to_be_visible()
    await phone.get_by_test_id("message-list").evaluate("el => el.scrollTop = el.scrollHeight")
    await phone.mouse.move(0, 0)  # the tap that opened the chat left the pointer over a message
    await phone.screenshot(path=str(folder / "phone-chat.png"))

    assert sorted(p.name for p in folder.glob("*.png")) == ["group-chat.png", "group-panel.png", "phone-chat.png", "phone-list.png", "search.png", "sign-in.png"]
    assert errors == [] and phone_errors == [], (errors, phone_errors)
    await context.close()
    await phone_ctx.close()
