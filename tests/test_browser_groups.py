"""Groups managed from the browser: the panel behind the chat header (members, rename, add,
remove, leave, delete) and the notices those changes leave in the conversation, seen by the
owner, a member on a phone, and people acting over REST."""

from __future__ import annotations

import asyncio

from tests.browser_kit import (
    PASSWORD,
    PHONE,
    accessibility_problems,
    accounts,
    conversation,
    expect,
    hold_first_answer,
    notice,
    pytestmark,
    send,
    signed_in,
)


async def test_owner_and_member_manage_a_group(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    await rest.make("dan", PASSWORD)
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Alice"})
    trip = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Trip", "member_ids": [bob.id, carol.id]})
    club = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Book club", "member_ids": [bob.id]})
    await carol.ok("POST", f"/api/conversations/{trip['id']}/messages", json={"content": "Who brings the tent?"})

    alice_ctx, owner, owner_errors = await signed_in(browser, base_url, "alice")
    bob_ctx, member, member_errors = await signed_in(browser, base_url, "bob", viewport=PHONE)
    for page in (owner, member):
        await conversation(page, "Trip").click()
        await expect(page.get_by_test_id("chat-subtitle")).to_contain_text("3 members")

    # The header opens the panel: the owner first, then everybody by name, with presence.
    await owner.get_by_test_id("chat-info-button").click()
    panel = owner.get_by_test_id("info-dialog")
    await expect(panel).to_be_visible()
    await expect(panel.get_by_test_id("member-name")).to_have_text(["Alice (you)", "bob", "carol"])
    await expect(panel.get_by_test_id("member").filter(has_text="bob").get_by_test_id("member-presence")).to_have_text("online")
    await expect(panel.get_by_test_id("member").filter(has_text="carol").get_by_test_id("member-presence")).to_have_text("offline")

    # Rename: the header changes on both sides, and the conversation says who did it.
    await panel.get_by_test_id("rename-input").fill("Trip to the lake")
    await panel.get_by_test_id("rename-save").click()
    await expect(panel.get_by_test_id("info-title")).to_have_text("Trip to the lake")
    await expect(member.get_by_test_id("chat-title")).to_have_text("Trip to the lake")
    await expect(notice(member, "Alice renamed the group to “Trip to the lake”")).to_be_visible()
    await expect(notice(owner, "You renamed the group to “Trip to the lake”")).to_be_attached()

    # Add Dan from the directory.
    await panel.get_by_test_id("add-search").fill("da")
    await panel.get_by_test_id("add-candidate").filter(has_text="@dan").get_by_role("button", name="Add dan").click()
    await expect(panel.get_by_test_id("member-name")).to_have_text(["Alice (you)", "bob", "carol", "dan"])
    await expect(member.get_by_test_id("chat-subtitle")).to_contain_text("4 members")
    await expect(notice(member, "Alice added dan")).to_be_visible()

    # Carol leaves (over REST); then the owner removes Dan, after confirming.
    await carol.ok("DELETE", f"/api/conversations/{trip['id']}/members/{carol.id}")
    await expect(notice(member, "carol left the group")).to_be_visible()
    await panel.get_by_test_id("member").filter(has_text="dan").get_by_test_id("remove-member").click()
    confirm = owner.get_by_test_id("confirm-dialog")
    await expect(confirm).to_contain_text("Remove dan from “Trip to the lake”?")
    await confirm.get_by_test_id("confirm-ok").click()
    await expect(panel.get_by_test_id("member-name")).to_have_text(["Alice (you)", "bob"])
    await expect(notice(owner, "You removed dan")).to_be_attached()
    await expect(notice(member, "Alice removed dan")).to_be_visible()
    await panel.get_by_test_id("info-close").click()
    # The notices sit after the message that was the newest when they happened.
    texts = await member.eval_on_selector_all("#message-items > li", "els => els.map(e => e.textContent)")
    notices = ["Alice renamed the group to “Trip to the lake”", "Alice added dan", "carol left the group", "Alice removed dan"]
    assert "Who brings the tent?" in texts[-5] and texts[-4:] == notices, texts

    # A member's panel (on a phone): no owner controls; leaving asks first.
    await conversation(owner, "Book club").click()
    await member.get_by_test_id("back-button").click()
    await conversation(member, "Book club").click()
    await member.get_by_test_id("chat-info-button").click()
    member_panel = member.get_by_test_id("info-dialog")
    await expect(member_panel.get_by_test_id("member-name")).to_have_text(["Alice", "bob (you)"])
    for owner_only in ("rename-form", "add-search", "remove-member", "delete-group"):
        await expect(member_panel.get_by_test_id(owner_only)).to_have_count(0)
    await member_panel.get_by_test_id("leave-group").click()
    await member.get_by_test_id("confirm-cancel").click()
    await expect(member_panel).to_be_visible()
    await member_panel.get_by_test_id("leave-group").click()
    await member.get_by_test_id("confirm-ok").click()
    await expect(member_panel).to_be_hidden()
    await expect(conversation(member, "Book club")).to_have_count(0)
    await expect(member.get_by_test_id("chat")).to_be_hidden()
    await expect(notice(owner, "bob left the group")).to_be_visible()
    assert [c["name"] for c in await bob.ok("GET", "/api/conversations")] == ["Trip to the lake"]

    # The owner deletes the trip group: it goes away for Bob too, with a word why.
    await conversation(member, "Trip to the lake").click()
    await conversation(owner, "Trip to the lake").click()
    await owner.get_by_test_id("chat-info-button").click()
    await panel.get_by_test_id("delete-group").click()
    await expect(confirm).to_contain_text("cannot be undone")
    await confirm.get_by_test_id("confirm-ok").click()
    await expect(panel).to_be_hidden()
    await expect(conversation(owner, "Trip to the lake")).to_have_count(0)
    await expect(member.get_by_test_id("toast")).to_have_text("Alice deleted the group “Trip to the lake”.")
    await expect(conversation(member, "Trip to the lake")).to_have_count(0)
    await expect(member.get_by_test_id("chat")).to_be_hidden()

    assert owner_errors == [] and member_errors == [], (owner_errors, member_errors)
    await alice_ctx.close()
    await bob_ctx.close()


async def test_text_for_a_group_that_is_gone_is_handed_back_not_dropped(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    trip = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Trip", "member_ids": [bob.id, carol.id]})
    club = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Book club", "member_ids": [bob.id, carol.id]})
    context, page, errors = await signed_in(browser, base_url, "bob", permissions=["clipboard-read", "clipboard-write"])
    box = page.get_by_test_id("message-input")
    unsent = page.get_by_test_id("unsent-dialog")

    # Half a message in the open group when the owner removes Bob: it is shown to him, to copy.
    await conversation(page, "Trip").click()
    await box.fill("I can bring the tent")
    await alice.ok("DELETE", f"/api/conversations/{trip['id']}/members/{bob.id}")
    await expect(unsent).to_be_visible()
    await expect(unsent.get_by_test_id("unsent-title")).to_have_text("Not sent to “Trip”")
    await expect(unsent.get_by_test_id("unsent-text")).to_have_value("I can bring the tent")
    await unsent.get_by_test_id("unsent-copy").click()
    assert await page.evaluate("navigator.clipboard.readText()") == "I can bring the tent"
    await unsent.get_by_test_id("unsent-close").click()
    await expect(unsent).to_be_hidden()
    await expect(conversation(page, "Trip")).to_have_count(0)

    # Two messages written offline to a group deleted meanwhile: both come back on reconnect.
    await conversation(page, "Book club").click()
    await context.set_offline(True)
    await page.evaluate("window.hubbub.socket.drop()")
    await send(page, "see you thursday")
    await send(page, "I'll bring cake")
    await expect(page.locator("[data-testid=message][data-pending]")).to_have_count(2)
    await alice.ok("DELETE", f"/api/conversations/{club['id']}")
    await context.set_offline(False)
    await expect(unsent).to_be_visible(timeout=20_000)
    await expect(unsent.get_by_test_id("unsent-title")).to_have_text("Not sent to “Book club”")
    await expect(unsent.get_by_test_id("unsent-text")).to_have_value("see you thursday\n\nI'll bring cake")
    problems = await accessibility_problems(page, context="[data-testid=unsent-dialog]")
    assert problems == [], problems
    await page.keyboard.press("Escape")
    await expect(unsent).to_be_hidden()
    # None of it was sent: Carol has only the trip, with no message from Bob.
    assert [c["name"] for c in await carol.ok("GET", "/api/conversations")] == ["Trip"]
    assert await carol.ok("GET", f"/api/conversations/{trip['id']}/messages") == []

    assert errors == [], errors
    await context.close()


async def test_a_group_left_while_its_refresh_was_answered_stays_gone(browser, base_url, rest):
    """Opening a group asks for its members; Bob is removed while that answer, made before the
    removal, is on its way: it must not bring the group back into his list."""
    alice, bob = await accounts(rest, "alice", "bob")
    trip = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Trip", "member_ids": [bob.id]})
    context, page, errors = await signed_in(browser, base_url, "bob")
    held = await hold_first_answer(page, f"**/api/conversations/{trip['id']}")  # Bob still a member
    await conversation(page, "Trip").click()
    route, answer = await asyncio.wait_for(held, 10)
    await alice.ok("DELETE", f"/api/conversations/{trip['id']}/members/{bob.id}")
    await expect(conversation(page, "Trip")).to_have_count(0)
    await route.fulfill(response=answer)
    await page.wait_for_timeout(500)  # room for the late answer to be taken in
    await expect(conversation(page, "Trip")).to_have_count(0)
    assert errors == []
    await context.close()
