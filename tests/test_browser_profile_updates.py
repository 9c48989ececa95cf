"""Another user's new nickname and picture show in an open client without a reload (`user.updated`,
PROTOCOL §4 "Decided (profiles)"): the conversation list, the chat header, the sender names
of a group's messages, the member panel and People; and the user's own name, changed on
another device. Each step fails without its part of the client's change."""

from __future__ import annotations

import asyncio

from tests.browser_kit import accounts, conversation, expect, hold_first_answer, message, png, pytestmark, signed_in  # noqa: F401
from tests.test_files import form


async def test_a_rename_and_a_picture_show_live_in_the_others_client(browser, base_url, rest):
    alice, bob = await accounts(rest, "alice", "bob")
    await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "hello bob"})
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "club", "member_ids": [bob.id]})
    await alice.ok("POST", f"/api/conversations/{group['id']}/messages", json={"content": "hello club"})
    context, page, errors = await signed_in(browser, base_url, "bob")

    # The direct chat open: its list item and header follow the rename.
    await conversation(page, "alice").click()
    await expect(message(page, "hello bob")).to_be_visible()
    await expect(page.locator("#chat-name")).to_have_text("alice")
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Ally"})
    await expect(page.locator("#chat-name")).to_have_text("Ally")
    await expect(conversation(page, "Ally")).to_have_count(1)
    await expect(conversation(page, "alice")).to_have_count(0)

    # A picture: in the list item and the header at once.
    upload = await alice.ok("POST", "/api/files", data=form(png(16, 16), filename="me.png", content_type="image/png"))
    await alice.ok("PATCH", "/api/users/me", json={"avatar": upload["url"]})
    await expect(conversation(page, "Ally").get_by_test_id("avatar-picture")).to_have_count(1)
    await expect(page.locator("#chat-avatar").get_by_test_id("avatar-picture")).to_have_count(1)

    # The group open with its member panel: the sender name over her message and her member
    # entry follow the next rename.
    await conversation(page, "club").click()
    sender = message(page, "hello club").get_by_test_id("message-sender")
    await expect(sender).to_have_text("Ally")
    await page.get_by_test_id("chat-info-button").click()
    members = page.get_by_test_id("member-name")
    await expect(members.filter(has_text="Ally")).to_have_count(1)
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Alice A."})
    await expect(sender).to_have_text("Alice A.")
    await expect(members.filter(has_text="Alice A.")).to_have_count(1)
    await expect(conversation(page, "Alice A.")).to_have_count(1)

    # People, listed before the change, names her anew too.
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("info-dialog")).to_be_hidden()
    await page.get_by_test_id("tab-people").click()
    async with page.expect_response(lambda response: "/api/users?q=ali" in response.url):
        await page.get_by_test_id("people-search").fill("ali")
    names = page.get_by_test_id("person-name")
    await expect(names).to_have_text(["Alice A."])
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Al"})
    await expect(names).to_have_text(["Al"])

    # Bob's own profile changed on another device: his name at the top of the list follows.
    await bob.ok("PATCH", "/api/users/me", json={"nickname": "Bobby"})
    await expect(page.get_by_test_id("me")).to_contain_text("Bobby")
    assert errors == [], errors
    await context.close()


async def test_a_rename_outlives_an_answer_asked_for_before_it(browser, base_url, rest):
    """Opening the member panel asks for the group's members; Alice renames herself while that
    answer, made before the rename, is on its way: it must not bring her old name back."""
    alice, bob = await accounts(rest, "alice", "bob")
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "club", "member_ids": [bob.id]})
    await alice.ok("POST", f"/api/conversations/{group['id']}/messages", json={"content": "hello club"})
    context, page, errors = await signed_in(browser, base_url, "bob")
    await conversation(page, "club").click()
    sender = message(page, "hello club").get_by_test_id("message-sender")
    await expect(sender).to_have_text("alice")
    held = await hold_first_answer(page, f"**/api/conversations/{group['id']}")  # with her old name
    await page.get_by_test_id("chat-info-button").click()
    route, answer = await asyncio.wait_for(held, 10)
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Ally"})
    await expect(sender).to_have_text("Ally")
    await route.fulfill(response=answer)
    await page.wait_for_timeout(500)  # room for the late answer to be taken in
    await expect(page.get_by_test_id("member-name").filter(has_text="Ally")).to_have_count(1)
    await expect(sender).to_have_text("Ally")
    assert errors == [], errors
    await context.close()
