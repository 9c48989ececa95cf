"""Group notices are part of the conversation's history (issue #15 item 1): "Alice added carol",
"carol left the group" stay in place among the messages after a reload, reach a device that
was offline while they happened, and show once when both a push and history bring them."""

from __future__ import annotations

from tests.browser_kit import (
    PHONE,
    accounts,
    conversation,
    expect,
    message,
    notice,
    pytestmark,
    signed_in,
    wait_connected,
)

__all__ = ["pytestmark"]

EXPECTED = [
    "notice: Alice created the group “Trip”",
    "message: hello all",
    "notice: Alice added carol",
    "notice: Alice renamed the group to “Trip to the lake”",
    "message: I'm in",
    "notice: carol left the group",
    "message: bye carol",
    "notice: Alice renamed the group to “Lake trip”",
]


async def timeline(page) -> list[str]:
    """The open conversation's notices and messages, top to bottom."""
    return await page.eval_on_selector_all(
        "#message-items > li",
        """els => els.map((el) => el.dataset.testid === "notice" ? `notice: ${el.textContent}`
            : el.dataset.testid === "message" ? `message: ${el.querySelector("[data-testid=message-body]").textContent}` : null)
          .filter((item) => item !== null)""",
    )


async def test_notices_stay_in_history_in_order_on_every_device(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    await alice.ok("PATCH", "/api/users/me", json={"nickname": "Alice"})
    group = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Trip", "member_ids": [bob.id]})
    gid = group["id"]
    await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "hello all"})

    laptop_ctx, laptop, laptop_errors = await signed_in(browser, base_url, "bob")
    phone_ctx, phone, phone_errors = await signed_in(browser, base_url, "bob", viewport=PHONE)
    for page in (laptop, phone):
        await conversation(page, "Trip").click()
        await expect(message(page, "hello all")).to_be_visible()
        await expect(notice(page, "Alice created the group “Trip”")).to_be_attached()

    # The phone goes offline; the group changes meanwhile, the laptop watching.
    await phone_ctx.set_offline(True)
    await phone.evaluate("window.hubbub.socket.drop()")
    await alice.ok("POST", f"/api/conversations/{gid}/members", json={"user_ids": [carol.id]})
    await alice.ok("PATCH", f"/api/conversations/{gid}", json={"name": "Trip to the lake"})
    await carol.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "I'm in"})
    await carol.ok("DELETE", f"/api/conversations/{gid}/members/{carol.id}")
    await alice.ok("POST", f"/api/conversations/{gid}/messages", json={"content": "bye carol"})
    await alice.ok("PATCH", f"/api/conversations/{gid}", json={"name": "Lake trip"})

    # Live, in place among the messages.
    await expect(notice(laptop, "Alice renamed the group to “Lake trip”")).to_be_visible()
    assert await timeline(laptop) == EXPECTED

    # A reconnect's catch-up brings the notices after the newest message again: shown once.
    await laptop.evaluate("window.hubbub.socket.drop()")
    await wait_connected(laptop)
    assert await timeline(laptop) == EXPECTED

    # After a reload they come from history.
    await laptop.reload()
    await wait_connected(laptop)
    await conversation(laptop, "Lake trip").click()
    await expect(notice(laptop, "Alice renamed the group to “Lake trip”")).to_be_visible()
    assert await timeline(laptop) == EXPECTED

    # The phone, back online, catches up on them, none twice.
    await phone_ctx.set_offline(False)
    await wait_connected(phone)
    await expect(notice(phone, "Alice renamed the group to “Lake trip”")).to_be_visible()
    assert await timeline(phone) == EXPECTED

    # Notices are nothing to read: no unread count from them.
    listed = {c["id"]: c for c in await bob.ok("GET", "/api/conversations")}
    assert listed[gid]["last_seq"] == 3

    assert laptop_errors == [] and phone_errors == [], (laptop_errors, phone_errors)
    await laptop_ctx.close()
    await phone_ctx.close()
