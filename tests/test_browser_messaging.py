"""The messaging features of issue #14 in the browser (issue #15 item 6): reply with a quote
that leads to the original, edit (Up in an empty composer) with its history, reactions with
who reacted, and mentions with suggestions, highlighting and a badge in the list. Two people
in browsers and a third over REST, in one group."""

from __future__ import annotations

import re

from tests.browser_kit import (
    accounts,
    conversation,
    expect,
    message,
    pytestmark,
    send,
    signed_in,
    wait_connected,
)

FILLER = 60  # more than the first page, so that the quoted message is not loaded at first


async def test_reply_edit_react_and_mention_between_two_browsers(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Alice"})
    team = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Team", "member_ids": [bob.id, carol.id]})
    messages = f"/api/conversations/{team['id']}/messages"
    original = await bob.ok("POST", messages, json={"content": "The plan is on the wiki"})
    for n in range(FILLER):
        await carol.ok("POST", messages, json={"content": f"filler {n}"})
    await carol.ok("POST", messages, json={"content": "Which wiki page?", "reply_to": original["id"]})
    await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Elsewhere", "member_ids": [bob.id]})
    for user in (alice, bob):
        await user.ok("POST", f"/api/conversations/{team['id']}/read", json={"seq": FILLER + 2})

    alice_ctx, a, a_errors = await signed_in(browser, base_url, "alice")
    bob_ctx, b, b_errors = await signed_in(browser, base_url, "bob")
    for page in (a, b):
        await conversation(page, "Team").click()
        await expect(page.get_by_test_id("chat-subtitle")).to_contain_text("3 members")

    # A reply's quote leads to the original, loading older pages until it is there.
    question = message(b, "Which wiki page?")
    await expect(question.get_by_test_id("quote")).to_contain_text("You")
    await expect(question.get_by_test_id("quote")).to_contain_text("The plan is on the wiki")
    await expect(message(b, "The plan is on the wiki")).to_have_count(0)
    await question.get_by_test_id("quote").click()
    await expect(message(b, "The plan is on the wiki")).to_be_in_viewport()
    await expect(message(b, "The plan is on the wiki")).to_have_class(re.compile(r"\bflash\b"))

    # Alice replies to Carol's question; Esc first cancels a reply without leaving the chat.
    await message(a, "Which wiki page?").hover()
    await message(a, "Which wiki page?").get_by_test_id("reply-button").click()
    await expect(a.get_by_test_id("composer-context")).to_contain_text("Replying to carol")
    await a.get_by_test_id("message-input").press("Escape")
    await expect(a.get_by_test_id("composer-context")).to_be_hidden()
    await expect(a.get_by_test_id("chat")).to_be_visible()
    await message(a, "Which wiki page?").hover()
    await message(a, "Which wiki page?").get_by_test_id("reply-button").click()
    await send(a, "Page Roadmap")
    await expect(a.get_by_test_id("composer-context")).to_be_hidden()
    reply = message(b, "Page Roadmap")
    await expect(reply.get_by_test_id("quote")).to_contain_text("carol")
    await expect(reply.get_by_test_id("quote")).to_contain_text("Which wiki page?")
    stored = (await carol.ok("GET", messages, params={"limit": 1}))[0]
    assert stored["content"] == "Page Roadmap" and stored["reply_to"]["preview"] == "Which wiki page?"
    # The quote follows the quoted message: edited, then recalled.
    quoted = stored["reply_to"]["id"]
    await carol.ok("PATCH", f"/api/messages/{quoted}", json={"content": "Which wiki page, again?"})
    await expect(reply.get_by_test_id("quote")).to_contain_text("Which wiki page, again?")
    await carol.ok("POST", f"/api/messages/{quoted}/recall")
    await expect(reply.get_by_test_id("quote")).to_contain_text("Recalled message")

    # Up in the empty composer edits the last own message; Bob sees it edited, with its history.
    box = a.get_by_test_id("message-input")
    await box.press("ArrowUp")
    await expect(a.get_by_test_id("composer-context")).to_contain_text("Editing message")
    await expect(box).to_have_value("Page Roadmap")
    await box.fill("Page Roadmap 2025")
    await box.press("Enter")
    await expect(box).to_have_value("")
    await expect(message(b, "Page Roadmap 2025").get_by_test_id("edited-mark")).to_be_visible()
    await expect(message(b, "Page Roadmap")).to_have_count(0)
    await expect(message(a, "Page Roadmap 2025").get_by_test_id("edited-mark")).to_be_visible()
    await message(b, "Page Roadmap 2025").get_by_test_id("edited-mark").click()
    await expect(b.get_by_test_id("version-text")).to_have_text(["Page Roadmap", "Page Roadmap 2025"])
    await b.get_by_test_id("edit-history-close").click()

    # Reactions: Bob adds one from the picker, Alice joins with a click on it, Bob takes his back.
    edited = message(b, "Page Roadmap 2025")
    await edited.hover()
    await edited.get_by_test_id("react-button").click()
    await b.get_by_test_id("reaction-picker").get_by_test_id("reaction-choice").first.click()
    await expect(b.get_by_test_id("reaction-picker")).to_be_hidden()
    thumbs_b = edited.locator("[data-testid=reaction][data-emoji='👍']")
    await expect(thumbs_b).to_have_attribute("aria-pressed", "true")
    thumbs_a = message(a, "Page Roadmap 2025").locator("[data-testid=reaction][data-emoji='👍']")
    await expect(thumbs_a).to_have_text("👍1")
    await expect(thumbs_a).to_have_attribute("title", "bob reacted with 👍")
    await expect(thumbs_a).to_have_attribute("aria-pressed", "false")
    await thumbs_a.click()
    await expect(thumbs_a).to_have_attribute("aria-pressed", "true")
    await expect(thumbs_b).to_have_text("👍2")
    await expect(thumbs_b).to_have_attribute("title", "You and Alice reacted with 👍")
    await thumbs_b.click()
    await expect(thumbs_a).to_have_text("👍1")
    await expect(thumbs_a).to_have_attribute("title", "You reacted with 👍")
    await expect(thumbs_b).to_have_attribute("aria-pressed", "false")

    # Mentions: "@" suggests the members; the pick goes in as @username.
    await box.type("@ca")
    options = a.get_by_test_id("mention-option")
    await expect(options).to_have_count(1)
    await expect(options).to_contain_text("@carol")
    await box.press("Enter")
    await expect(box).to_have_value("@carol ")
    await box.type("and @")
    await expect(options).to_have_count(3)  # bob, carol and everyone
    await a.locator("[data-testid=mention-option][data-username=bob]").click()
    await box.type("see above")
    await expect(box).to_have_value("@carol and @bob see above")
    await box.press("Enter")
    mentioned = message(b, "@carol and @bob see above")
    await expect(mentioned.get_by_test_id("mention")).to_have_text(["@carol", "@bob"])
    await expect(mentioned).to_have_class(re.compile(r"\bmentions-me\b"))

    # Away from the group, Bob gets a mention badge on it; reading clears it.
    await conversation(b, "Elsewhere").click()
    await send(a, "@bob one more thing")
    team_b = conversation(b, "Team")
    await expect(team_b.get_by_test_id("mention-badge")).to_be_visible()
    await expect(team_b.get_by_test_id("unread-badge")).to_have_text("1")
    await team_b.click()
    await expect(team_b.get_by_test_id("mention-badge")).to_have_count(0)
    await expect(team_b.get_by_test_id("unread-badge")).to_have_count(0)
    assert next(c for c in await bob.ok("GET", "/api/conversations") if c["id"] == team["id"])["mention_count"] == 0

    assert a_errors == [] and b_errors == [], (a_errors, b_errors)
    await alice_ctx.close()
    await bob_ctx.close()


async def test_read_by_in_a_group_of_three(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    trio = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Trio", "member_ids": [bob.id, carol.id]})
    await carol.ok("POST", f"/api/conversations/{trio['id']}/messages", json={"content": "hello all"})

    alice_ctx, a, a_errors = await signed_in(browser, base_url, "alice")
    bob_ctx, b, b_errors = await signed_in(browser, base_url, "bob")
    await conversation(a, "Trio").click()
    await send(a, "Lunch at noon?")
    mine = message(a, "Lunch at noon?")
    await expect(mine.get_by_test_id("receipt")).to_have_attribute("data-state", "sent")

    # Bob reads it: "Read by 1"; Carol (over REST) too: everyone.
    await conversation(b, "Trio").click()
    await expect(message(b, "Lunch at noon?")).to_be_visible()
    await expect(mine.get_by_test_id("read-by")).to_have_text("✓✓ Read by 1")
    await mine.get_by_test_id("read-by").click()
    dialog = a.get_by_test_id("readers-dialog")
    await expect(dialog.get_by_test_id("reader-name")).to_have_text(["bob"])
    await expect(dialog.get_by_test_id("readers-unread")).to_have_text("Not read yet by carol.")
    await dialog.get_by_test_id("readers-close").click()
    await carol.ok("POST", f"/api/conversations/{trio['id']}/read", json={"seq": 2})
    await expect(mine.get_by_test_id("read-by")).to_have_text("✓✓ Read by everyone")
    await mine.get_by_test_id("read-by").click()
    await expect(dialog.get_by_test_id("reader-name")).to_have_text(["bob", "carol"])

    assert a_errors == [] and b_errors == [], (a_errors, b_errors)
    await alice_ctx.close()
    await bob_ctx.close()


async def test_changes_made_while_offline_arrive_on_reconnect(browser, base_url, rest):
    """Edits, reactions and recalls made while a browser was offline show after it reconnects
    (changed_after=), on messages it already held, older than the newest page included."""
    alice, bob = await accounts(rest, "alice", "bob")
    first = await alice.ok("POST", "/api/messages", json={"receiver_id": bob.id, "content": "draft plan"})
    conversation_id = first["conversation_id"]
    path = f"/api/conversations/{conversation_id}/messages"
    for n in range(110):
        await alice.ok("POST", path, json={"content": f"note {n}"})
    last = await alice.ok("POST", path, json={"content": "see you at 5"})

    context, page, errors = await signed_in(browser, base_url, "bob")
    await conversation(page, "alice").click()
    await expect(message(page, "see you at 5")).to_be_visible()
    await page.get_by_test_id("message-list").evaluate("el => el.scrollTop = 0")
    await expect(message(page, "draft plan")).to_be_attached()  # older pages loaded up to the first

    await context.set_offline(True)
    await page.evaluate("window.hubbub.socket.drop()")
    await alice.ok("PATCH", f"/api/messages/{first['id']}", json={"content": "final plan"})
    await alice.ok("PUT", f"/api/messages/{last['id']}/reactions/%F0%9F%91%8D")
    await alice.ok("POST", f"/api/messages/{last['id'] - 1}/recall")
    await context.set_offline(False)
    await wait_connected(page)

    await expect(message(page, "final plan").get_by_test_id("edited-mark")).to_be_attached()
    await expect(message(page, "draft plan")).to_have_count(0)
    await expect(message(page, "see you at 5").get_by_test_id("reaction")).to_have_text("👍1")
    await expect(message(page, "note 109")).to_have_count(0)
    assert errors == [], errors
    await context.close()
