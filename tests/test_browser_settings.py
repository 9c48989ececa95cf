"""Per-member conversation settings and the user's own profile in the browser (issue #15 item
6, issue #14 part 7, issue #18 part 1): mute, pin and archive from a conversation's menu, seen on
the user's second device too, and the profile dialog changing the display name and the
password, which signs the other device out and keeps this one."""

from __future__ import annotations

from tests.browser_kit import (
    PASSWORD,
    accounts,
    conversation,
    expect,
    login,
    pytestmark,
    send,
    signed_in,
    wait_connected,
)

NEW_PASSWORD = "another-pass-2"


async def names(page) -> list[str]:
    return await page.eval_on_selector_all("#conversation-list [data-testid=conversation-name]", "els => els.map(e => e.textContent)")


async def choose(page, name: str, action: str) -> None:
    row = page.locator(".conversation-row").filter(has=conversation(page, name))
    await row.hover()
    await row.get_by_test_id("conversation-menu-button").click()
    await page.get_by_test_id("conversation-menu").get_by_test_id(action).click()


async def test_mute_pin_archive_and_profile_on_two_devices(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    club = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Club", "member_ids": [carol.id]})
    await carol.ok("POST", f"/api/conversations/{club['id']}/messages", json={"content": "Meeting at 8"})
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})

    ctx1, laptop, laptop_errors = await signed_in(browser, base_url, "alice")
    ctx2, phone, phone_errors = await signed_in(browser, base_url, "alice")
    for page in (laptop, phone):
        assert await names(page) == ["bob", "Club"]

    # Pin: first in the list, on the other device too.
    await choose(laptop, "Club", "menu-pin")
    for page in (laptop, phone):
        await expect(conversation(page, "Club").get_by_test_id("pinned-mark")).to_be_visible()
        await page.wait_for_function("() => document.querySelector('#conversation-list [data-testid=conversation-name]').textContent === 'Club'")

    # Mute: the badge goes grey and the tab title leaves the chat out.
    await choose(laptop, "bob", "menu-mute")
    await expect(conversation(phone, "bob").get_by_test_id("muted-mark")).to_be_visible()
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "are you there?"})
    await expect(conversation(laptop, "bob").get_by_test_id("unread-badge")).to_have_text("2")
    await expect(conversation(laptop, "bob")).to_have_attribute("data-muted", "true")
    await expect(laptop).to_have_title("(1) Hubbub")
    assert [c["muted"] for c in await alice.ok("GET", "/api/conversations") if c["type"] == "direct"] == [True]

    # Archive: out of the list, behind "Show archived"; a new message brings it back.
    await choose(laptop, "Club", "menu-archive")
    for page in (laptop, phone):
        await expect(conversation(page, "Club")).to_have_count(0)
        await expect(page.get_by_test_id("archived-toggle")).to_have_text("Show archived (1)")
    await laptop.get_by_test_id("archived-toggle").click()
    await expect(laptop.get_by_test_id("archived-list").get_by_test_id("conversation-name")).to_have_text(["Club"])
    await laptop.get_by_test_id("archived-toggle").click()
    await expect(laptop.get_by_test_id("archived-list").get_by_test_id("conversation-name")).to_have_count(0)
    await carol.ok("POST", f"/api/conversations/{club['id']}/messages", json={"content": "Moved to 9"})
    for page in (laptop, phone):
        await expect(page.locator("#conversation-list").get_by_test_id("conversation-name").filter(has_text="Club")).to_have_count(1)
        await expect(page.get_by_test_id("archived-toggle")).to_be_hidden()

    # The profile: a new display name, shown at the top of the list.
    await laptop.get_by_test_id("me").click()
    dialog = laptop.get_by_test_id("profile-dialog")
    await expect(dialog.get_by_test_id("profile-username")).to_contain_text("@alice")
    await dialog.get_by_test_id("profile-nickname").fill("Alice A.")
    await dialog.get_by_test_id("profile-name-save").click()
    await expect(dialog.get_by_test_id("profile-name-status")).to_contain_text("Alice A.")
    await expect(laptop.get_by_test_id("me")).to_contain_text("Alice A.")

    # The password: a wrong current one and a mistyped new one are refused with a reason.
    async def change(current: str, new: str, again: str) -> None:
        await dialog.get_by_test_id("password-current").fill(current)
        await dialog.get_by_test_id("password-new").fill(new)
        await dialog.get_by_test_id("password-again").fill(again)
        await dialog.get_by_test_id("password-save").click()

    await change("not-my-password", NEW_PASSWORD, NEW_PASSWORD)
    await expect(dialog.get_by_test_id("password-status")).to_have_text("The current password is wrong.")
    await change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x")
    await expect(dialog.get_by_test_id("password-status")).to_have_text("The two new passwords differ.")
    await change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD)
    await expect(dialog.get_by_test_id("password-status")).to_contain_text("Password changed")
    await dialog.get_by_test_id("profile-close").click()

    # The other device is signed out; this one goes on and can still send.
    await expect(phone.get_by_test_id("login-form")).to_be_visible()
    await conversation(laptop, "bob").click()
    await send(laptop, "still here")
    await expect(laptop.locator("[data-testid=message]:not([data-pending])").filter(has_text="still here")).to_have_count(1)
    await login(phone, "alice", NEW_PASSWORD)
    await wait_connected(phone)

    assert laptop_errors == [] and phone_errors == [], (laptop_errors, phone_errors)
    await ctx1.close()
    await ctx2.close()
