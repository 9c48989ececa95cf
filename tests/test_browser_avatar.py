"""A picture for one's profile (issue #15 item 5): uploaded from the profile dialog, it becomes
the avatar, and another user sees it in their list and their chat's header."""

from __future__ import annotations

from tests.browser_kit import (
    accounts,
    conversation,
    expect,
    png,
    pytestmark,
    signed_in,
)


async def loaded(picture) -> bool:
    """Whether the <img> holds a decoded picture (a blob: URL of the fetched file)."""
    return await picture.evaluate("img => img.complete && img.naturalWidth > 0 && img.src.startsWith('blob:')")


async def test_a_picture_set_in_the_profile_is_seen_by_others(browser, base_url, rest):
    alice, bob = await accounts(rest, "alice", "bob")
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})
    context, page, errors = await signed_in(browser, base_url, "alice")
    await page.get_by_test_id("me").click()
    await expect(page.get_by_test_id("profile-dialog")).to_be_visible()

    # Not an image: refused, and nothing changes.
    await page.get_by_test_id("profile-avatar-file").set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just text"})
    await expect(page.get_by_test_id("profile-avatar-status")).to_have_text("That is not an image.")
    assert (await alice.ok("GET", "/api/users/me"))["avatar"] is None

    await page.get_by_test_id("profile-avatar-file").set_input_files({"name": "me.png", "mimeType": "image/png", "buffer": png(16, 16)})
    await expect(page.get_by_test_id("profile-avatar-status")).to_have_text("Saved: this is your picture now.")
    avatar = (await alice.ok("GET", "/api/users/me"))["avatar"]
    assert avatar and avatar.startswith("/api/files/"), avatar
    await page.get_by_test_id("profile-close").click()
    own = page.get_by_test_id("me").get_by_test_id("avatar-picture")
    await expect(own).to_have_count(1)

    # Bob, who shares no file with alice, sees her picture in his list and in the chat header.
    other, bob_page, bob_errors = await signed_in(browser, base_url, "bob")
    listed = conversation(bob_page, "alice").get_by_test_id("avatar-picture")
    await expect(listed).to_have_count(1)
    await bob_page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=await listed.element_handle())
    assert await loaded(listed)
    await conversation(bob_page, "alice").click()
    header = bob_page.locator("#chat-avatar").get_by_test_id("avatar-picture")
    await expect(header).to_have_count(1)
    assert (await bob.client.get(avatar, headers=bob.auth)).status == 200
    assert errors == [] and bob_errors == [], (errors, bob_errors)
    await other.close()
    await context.close()
