"""Groups managed from the browser: the panel behind the chat header (members, rename, add,
remove, leave, delete) and the notices those changes leave in the conversation, seen by the
owner, a member on a phone, and people acting over REST."""

from __future__ import annotations

from tests.browser_kit import (  # the fixtures among these are found by pytest here
    PASSWORD,
    PHONE,
    base_url,
    browser,
    conversation,
    expect,
    login,
    open_page,
    pytestmark,
    rest,
    server,
    wait_connected,
)


def notice(page, text: str):
    return page.get_by_test_id("notice").filter(has_text=text)


async def test_owner_and_member_manage_a_group(browser, base_url, rest):
    alice = await rest.make("alice", PASSWORD)
    bob = await rest.make("bob", PASSWORD)
    carol = await rest.make("carol", PASSWORD)
    await rest.make("dan", PASSWORD)
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Alice"})
    trip = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Trip", "member_ids": [bob.id, carol.id]})
    club = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Book club", "member_ids": [bob.id]})
    await carol.ok("POST", f"/api/conversations/{trip['id']}/messages", json={"content": "Who brings the tent?"})

    alice_ctx, owner, owner_errors = await open_page(browser, base_url)
    bob_ctx, member, member_errors = await open_page(browser, base_url, viewport=PHONE)
    await login(owner, "alice")
    await login(member, "bob")
    for page in (owner, member):
        await wait_connected(page)
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
    await expect(notice(member, "carol is no longer in the group")).to_be_visible()
    await panel.get_by_test_id("member").filter(has_text="dan").get_by_test_id("remove-member").click()
    confirm = owner.get_by_test_id("confirm-dialog")
    await expect(confirm).to_contain_text("Remove dan from “Trip to the lake”?")
    await confirm.get_by_test_id("confirm-ok").click()
    await expect(panel.get_by_test_id("member-name")).to_have_text(["Alice (you)", "bob"])
    await expect(notice(owner, "You removed dan")).to_be_attached()
    await expect(notice(member, "dan is no longer in the group")).to_be_visible()
    await panel.get_by_test_id("info-close").click()
    # The notices sit after the message that was the newest when they happened.
    texts = await member.eval_on_selector_all("#message-items > li", "els => els.map(e => e.textContent)")
    notices = ["Alice renamed the group to “Trip to the lake”", "Alice added dan", "carol is no longer in the group", "dan is no longer in the group"]
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
    await expect(notice(owner, "bob is no longer in the group")).to_be_visible()
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
    await expect(member.get_by_test_id("toast")).to_have_text("The group “Trip to the lake” was deleted.")
    await expect(conversation(member, "Trip to the lake")).to_have_count(0)
    await expect(member.get_by_test_id("chat")).to_be_hidden()

    assert owner_errors == [] and member_errors == [], (owner_errors, member_errors)
    await alice_ctx.close()
    await bob_ctx.close()
