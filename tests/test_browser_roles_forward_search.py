"""Group roles and moderation, forwarding and message search in the browser (issue #15 item 6,
the UI of issue #14 parts 5, 8 and 9): the owner names an admin, the admin removes a member and
a member's message, a message is forwarded into a direct chat, the group is handed over; and a
search hit opens its conversation at the message, loading the history around it."""

from __future__ import annotations

import re

from tests.browser_kit import (
    accounts,
    conversation,
    expect,
    message,
    notice,
    pytestmark,
    send,
    signed_in,
    wait_connected,
)


async def test_roles_moderation_forward_and_handover(browser, base_url, rest):
    alice, bob, carol, dan = await accounts(rest, "alice", "bob", "carol", "dan")
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Alice"})
    team = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Team", "member_ids": [bob.id, carol.id, dan.id]})
    messages = f"/api/conversations/{team['id']}/messages"
    await carol.ok("POST", messages, json={"content": "Agenda: budget"})
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})

    a_ctx, a, a_errors = await signed_in(browser, base_url, "alice")
    b_ctx, b, b_errors = await signed_in(browser, base_url, "bob")
    for page in (a, b):
        await conversation(page, "Team").click()
        await expect(page.get_by_test_id("chat-subtitle")).to_contain_text("4 members")

    # The owner makes Bob an admin; both see it, and Bob gets the admin's controls.
    await a.get_by_test_id("chat-info-button").click()
    panel = a.get_by_test_id("info-dialog")
    bob_row = panel.get_by_test_id("member").filter(has_text="bob")
    await bob_row.get_by_test_id("make-admin").click()
    await expect(bob_row.get_by_test_id("member-presence")).to_contain_text("admin")
    await expect(panel.get_by_test_id("member-name")).to_have_text(["Alice (you)", "bob", "carol", "dan"])
    await panel.get_by_test_id("info-close").click()
    await expect(notice(b, "Alice made you an admin")).to_be_visible()
    await expect(notice(a, "You made bob an admin")).to_be_attached()

    await b.get_by_test_id("chat-info-button").click()
    admin_panel = b.get_by_test_id("info-dialog")
    await expect(admin_panel.get_by_test_id("member").filter(has_text="Alice").get_by_test_id("remove-member")).to_have_count(0)
    await expect(admin_panel.get_by_test_id("make-admin")).to_have_count(0)
    await admin_panel.get_by_test_id("member").filter(has_text="dan").get_by_test_id("remove-member").click()
    await b.get_by_test_id("confirm-ok").click()
    await expect(admin_panel.get_by_test_id("member-name")).to_have_text(["Alice", "bob (you)", "carol"])
    await admin_panel.get_by_test_id("info-close").click()

    # The admin removes a plain member's message; everyone sees who removed it.
    await carol.ok("POST", messages, json={"content": "buy cheap watches"})
    spam = message(b, "buy cheap watches")
    await spam.hover()
    await expect(message(b, "Agenda: budget").get_by_test_id("remove-message")).to_have_count(1)
    await spam.get_by_test_id("remove-message").click()
    await expect(b.get_by_test_id("confirm-dialog")).to_contain_text("Remove this message by carol")
    await b.get_by_test_id("confirm-ok").click()
    await expect(b.get_by_test_id("message-body").filter(has_text="You removed a message")).to_have_count(1)
    await expect(a.get_by_test_id("message-body").filter(has_text="bob removed a message")).to_have_count(1)
    await expect(message(a, "buy cheap watches")).to_have_count(0)

    # Alice forwards Carol's agenda to Bob; it arrives marked as Carol's words.
    agenda = message(a, "Agenda: budget")
    await agenda.hover()
    await agenda.get_by_test_id("forward-button").click()
    forward = a.get_by_test_id("forward-dialog")
    await forward.get_by_test_id("forward-search").fill("bo")
    await forward.get_by_test_id("forward-target").click()
    await expect(a.get_by_test_id("toast")).to_have_text("Forwarded to bob.")
    await conversation(b, "Alice").click()
    copy = message(b, "Agenda: budget")
    await expect(copy.get_by_test_id("forwarded-mark")).to_have_text("Forwarded from carol")
    await expect(copy).to_have_attribute("data-mine", "false")

    # The owner hands the group over; she stays as an admin and may now leave.
    await a.get_by_test_id("chat-info-button").click()
    await panel.get_by_test_id("member").filter(has_text="bob").get_by_test_id("make-owner").click()
    await expect(a.get_by_test_id("confirm-dialog")).to_contain_text("you stay as an admin")
    await a.get_by_test_id("confirm-ok").click()
    await expect(panel.get_by_test_id("leave-group")).to_be_visible()
    await expect(panel.get_by_test_id("delete-group")).to_have_count(0)
    await expect(panel.get_by_test_id("member").filter(has_text="bob").get_by_test_id("member-presence")).to_contain_text("owner")
    await expect(panel.get_by_test_id("member").filter(has_text="Alice").get_by_test_id("member-presence")).to_contain_text("admin")
    await panel.get_by_test_id("info-close").click()
    await expect(notice(a, "You handed the group over to bob")).to_be_attached()
    await conversation(b, "Team").click()
    await expect(notice(b, "Alice handed the group over to you")).to_be_attached()
    assert (await bob.ok("GET", f"/api/conversations/{team['id']}"))["role"] == "owner"

    assert a_errors == [] and b_errors == [], (a_errors, b_errors)
    await a_ctx.close()
    await b_ctx.close()


async def test_search_hit_opens_the_conversation_at_the_message(browser, base_url, rest):
    alice, bob = await accounts(rest, "alice", "bob")
    team = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Team", "member_ids": [bob.id]})
    messages = f"/api/conversations/{team['id']}/messages"
    await bob.ok("POST", messages, json={"content": "the budget for March is ready"})
    for n in range(80):
        await bob.ok("POST", messages, json={"content": f"chatter {n}"})
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "Budget review at noon?"})

    context, page, errors = await signed_in(browser, base_url, "alice")
    await conversation(page, "Team").click()
    await expect(message(page, "chatter 79")).to_be_visible()

    box = page.get_by_test_id("message-search")
    await box.fill("budget")
    hits = page.get_by_test_id("search-hit")
    await expect(hits).to_have_count(2)
    await expect(hits.first).to_contain_text("bob")
    await expect(hits.first.locator("mark")).to_have_text("Budget")
    await expect(hits.nth(1).locator("mark")).to_have_text("budget")
    await expect(page.get_by_test_id("conversation-list")).to_be_hidden()

    # The group hit is 81 messages back: the conversation loads back to it and shows it.
    await hits.nth(1).click()
    found = message(page, "the budget for March is ready")
    await expect(found).to_be_in_viewport()
    await expect(found).to_have_class(re.compile(r"\bflash\b"))

    # Only in the open conversation: the direct chat's hit goes.
    await box.fill("budget")
    await expect(hits).to_have_count(2)
    await page.get_by_test_id("search-scope").click()
    await expect(page.get_by_test_id("search-scope")).to_have_attribute("aria-pressed", "true")
    await expect(hits).to_have_count(1)
    await expect(hits.first).to_have_attribute("data-conversation-id", str(team["id"]))
    await page.get_by_test_id("search-scope").click()
    await expect(hits).to_have_count(2)

    # Hits come 20 at a time; "More results" brings the next ones, none twice.
    for n in range(24):
        await bob.ok("POST", messages, json={"content": f"idea {n} for the offsite"})
    await box.fill("offsite")
    await expect(hits).to_have_count(20)
    await page.get_by_test_id("search-more").click()
    await expect(hits).to_have_count(24)
    await expect(page.get_by_test_id("search-more")).to_have_count(0)
    snippets = await page.get_by_test_id("search-snippet").all_text_contents()
    assert len(set(snippets)) == 24 and "idea 23" in snippets[0] and "idea 0" in snippets[-1], snippets

    # Nothing found says so; Esc clears the search and brings the list back.
    await box.fill("zebra")
    await expect(page.get_by_test_id("search-none")).to_have_text("No messages found.")
    await box.press("Escape")
    await expect(page.get_by_test_id("conversation-list")).to_be_visible()
    await expect(page.get_by_test_id("chat")).to_be_visible()

    # After a reload nothing of the group is loaded: the hit brings the page around it.
    await page.goto(base_url)
    await wait_connected(page)
    await box.fill("March")
    await hits.first.click()
    await expect(found).to_be_in_viewport()
    await expect(message(page, "chatter 0")).to_be_visible()
    await expect(message(page, "chatter 79")).to_be_attached()

    assert errors == [], errors
    await context.close()


async def test_owner_sets_the_groups_rules(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    team = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Team", "member_ids": [bob.id, carol.id]})

    a_ctx, a, a_errors = await signed_in(browser, base_url, "alice")
    b_ctx, b, b_errors = await signed_in(browser, base_url, "bob")
    for page in (a, b):
        await conversation(page, "Team").click()
    await send(b, "typo here")
    mine = message(b, "typo here")
    await mine.hover()
    await expect(mine.get_by_test_id("edit-button")).to_have_count(1)
    box = b.get_by_test_id("message-input")
    await box.type("@")
    await expect(b.get_by_test_id("mention-option")).to_have_count(3)  # alice, carol, everyone
    await box.fill("")

    # The owner: no edits any more, and @all is hers alone.
    await a.get_by_test_id("chat-info-button").click()
    rules = a.get_by_test_id("group-settings")
    await rules.get_by_test_id("group-settings-open").click()
    await rules.get_by_test_id("edit-window").select_option(label="never")
    await rules.get_by_test_id("mentions-all").uncheck()
    await rules.get_by_test_id("group-settings-save").click()
    await expect(rules.get_by_test_id("group-settings-status")).to_have_text("Saved.")
    vo = await bob.ok("GET", f"/api/conversations/{team['id']}")
    assert (vo["edit_window_seconds"], vo["mentions_all"]) == (0, False)

    # Bob sees the new rules at once (conversation.updated).
    await mine.hover()
    await expect(mine.get_by_test_id("edit-button")).to_have_count(0)
    await box.press("ArrowUp")
    await expect(b.get_by_test_id("composer-context")).to_be_hidden()
    await box.type("@")
    await expect(b.get_by_test_id("mention-option")).to_have_count(2)
    await expect(b.locator("[data-testid=mention-option][data-username=all]")).to_have_count(0)

    assert a_errors == [] and b_errors == [], (a_errors, b_errors)
    await a_ctx.close()
    await b_ctx.close()
