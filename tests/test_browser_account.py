"""The browser client and the account's sessions (issue #18): it renews its short-lived token
silently and keeps its socket across the expiry, and a device whose session is revoked elsewhere
is signed out live."""

from __future__ import annotations

import asyncio
import dataclasses

import jwt
import pytest

from tests.browser_kit import (
    PASSWORD,
    accessibility_problems,
    accounts,
    conversation,
    expect,
    message,
    pytestmark,
    signed_in,
    submit_login,
    wait_connected,
)


@pytest.fixture
def settings(settings):
    """Access tokens of 4 s (exp is whole seconds: 3-4 s), so that the test sees several expire."""
    return dataclasses.replace(settings, jwt_ttl_seconds=4)


async def relogin(rest, user):
    """`user` with a new token."""
    response = await rest.client.post("/api/auth/login", json={"username": user.username, "password": PASSWORD})
    return dataclasses.replace(user, token=(await response.json())["data"]["token"])


async def test_the_token_is_renewed_silently_and_the_socket_stays(browser, base_url, rest):
    await accounts(rest, "alice")
    context, page, errors = await signed_in(browser, base_url, "alice")
    await page.evaluate("window.opens = 0; window.hubbub.socket.addEventListener('open', () => window.opens++)")
    first = await page.evaluate("window.hubbub.api.token")

    await asyncio.sleep(9)  # two or three lifetimes of the access token
    renewed = await page.evaluate("window.hubbub.api.token")
    assert renewed != first
    assert await page.evaluate("window.opens") == 0, "the socket never had to reconnect"
    assert await page.evaluate("window.hubbub.socket.state") == "open"
    me = await page.evaluate("window.hubbub.api.me().then((me) => me.username)")
    assert me == "alice"
    await expect(page.get_by_test_id("app")).to_be_visible()
    # A reload keeps the session: the stored tokens are the renewed ones.
    await page.reload()
    await wait_connected(page)
    assert errors == [], errors
    await context.close()


# The refresh token the tabs share in IndexedDB (tokens.js), as a page reads it.
SHARED_REFRESH_TOKEN = """() => new Promise((resolve) => {
    const opening = indexedDB.open("hubbub", 1);
    opening.onsuccess = () => {
        const got = opening.result.transaction("session").objectStore("session").get("hubbub.session");
        got.onsuccess = () => { opening.result.close(); resolve(got.result ? got.result.refresh_token : null); };
    };
})"""


async def test_two_tabs_share_the_session_across_renewals(browser, base_url, rest):
    """Two tabs of one browser hold one session's tokens and renew them in turn, once per
    lifetime for both: neither presents a refresh token the other used (the server would
    revoke the session as stolen), and both stay signed in with their sockets. Failed before the shared tokens moved to
    IndexedDB: a tab read the used token from localStorage, which Chromium updates late."""
    (alice,) = await accounts(rest, "alice")
    context, page, errors = await signed_in(browser, base_url, "alice")
    second = await context.new_page()
    second.on("pageerror", lambda error: errors.append(str(error)))
    await second.goto(base_url)
    await wait_connected(second)
    for tab in (page, second):
        await tab.evaluate("window.opens = 0; window.hubbub.socket.addEventListener('open', () => window.opens++)")

    refreshes = []
    for tab in (page, second):
        tab.on("request", lambda request: refreshes.append(request.url) if request.url.endswith("/api/auth/refresh") else None)
    await asyncio.sleep(9)  # two or three lifetimes of the access token
    # One renewal per lifetime for both tabs, not one each (their timers fire together).
    assert 2 <= len(refreshes) <= 4, refreshes
    for tab in (page, second):
        assert await tab.evaluate("window.opens") == 0, "a tab's socket had to reconnect"
        assert await tab.evaluate("window.hubbub.api.me().then((me) => me.username)") == "alice"
        await expect(tab.get_by_test_id("app")).to_be_visible()
    held = {await tab.evaluate("window.hubbub.keeper.saved.refresh_token") for tab in (page, second)}
    assert await page.evaluate(SHARED_REFRESH_TOKEN) in held, "the tokens are not shared in IndexedDB"
    alice = await relogin(rest, alice)  # the token of `accounts` has expired
    browsers = [row for row in await alice.ok("GET", "/api/auth/sessions") if "Chrome" in row["device"]]
    assert len(browsers) == 1, browsers  # one session for both tabs, still live
    assert errors == [], errors
    await context.close()


async def test_an_expired_token_is_renewed_before_a_request(browser, base_url, rest):
    """A laptop that slept past its refresh timer: the next request renews first."""
    await accounts(rest, "alice")
    context, page, errors = await signed_in(browser, base_url, "alice")
    # Stop the timer, and let the token expire.
    await page.evaluate("clearTimeout(window.hubbub.keeper.timer)")
    await asyncio.sleep(5)
    me = await page.evaluate("window.hubbub.api.me().then((me) => me.username)")
    assert me == "alice"
    await expect(page.get_by_test_id("app")).to_be_visible()
    assert errors == [], errors
    await context.close()


async def test_a_device_revoked_elsewhere_is_signed_out_live(browser, base_url, rest):
    (alice,) = await accounts(rest, "alice")
    context, page, errors = await signed_in(browser, base_url, "alice")

    sessions = await alice.ok("GET", "/api/auth/sessions")
    browsers = [row for row in sessions if not row["current"]]
    assert len(browsers) == 1 and "Chrome" in browsers[0]["device"], sessions  # labelled by its User-Agent
    await alice.ok("DELETE", f"/api/auth/sessions/{browsers[0]['id']}")

    await expect(page.get_by_test_id("login-form")).to_be_visible()
    assert await page.evaluate("localStorage.getItem('hubbub.session')") is None
    await page.reload()
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    assert errors == [], errors
    await context.close()


async def open_profile(page):
    await page.get_by_test_id("me").click()
    await expect(page.get_by_test_id("profile-dialog")).to_be_visible()


async def test_the_devices_list_signs_another_device_out(browser, base_url, rest):
    (alice,) = await accounts(rest, "alice")  # a second device, signed in over REST
    context, page, errors = await signed_in(browser, base_url, "alice")
    await open_profile(page)
    sessions = page.get_by_test_id("session")
    await expect(sessions).to_have_count(2)
    await expect(page.locator("[data-testid=session][data-current=true]")).to_contain_text("this device")
    await page.locator("[data-testid=session][data-current=false]").get_by_test_id("session-revoke").click()
    await expect(page.get_by_test_id("session-status")).to_contain_text("Signed out")
    await expect(sessions).to_have_count(1)
    # The REST device's session is gone (its token may simply have expired by now: asked anew).
    revoked = jwt.decode(alice.token, options={"verify_signature": False})["sid"]
    live = {row["id"] for row in await (await relogin(rest, alice)).ok("GET", "/api/auth/sessions")}
    assert revoked not in live and len(live) == 2, live  # the browser's and the new one
    assert errors == [], errors
    await context.close()


async def test_block_and_unblock_a_person(browser, base_url, rest):
    alice, bob = await accounts(rest, "alice", "bob")
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi alice"})
    context, page, errors = await signed_in(browser, base_url, "alice")
    await conversation(page, "bob").click()
    await page.get_by_test_id("chat-info-button").click()
    toggle = page.get_by_test_id("block-toggle")
    await expect(toggle).to_have_text("Block")
    await toggle.click()
    await expect(toggle).to_have_text("Unblock")
    bob = await relogin(rest, bob)  # the token of `accounts` lives 3-4 s here
    status, body = await bob.call("POST", "/api/messages", json={"receiver_id": alice.id, "content": "are you there?"})
    assert status == 403, body
    await toggle.click()
    await expect(toggle).to_have_text("Block")
    assert (await bob.call("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hello again"}))[0] == 201
    assert errors == [], errors
    await context.close()


async def test_a_blocked_persons_group_messages_are_collapsed(browser, base_url, rest):
    """Group messages of someone the user blocks stay in place, folded, each shown on demand;
    unblocking draws them whole and blocking again folds them, without a reload; a member is
    blocked from the group's panel too."""
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    club = await alice.ok("POST", "/api/conversations", json={"type": "group", "name": "Club", "member_ids": [bob.id, carol.id]})
    await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi alice"})
    for user, text in ((bob, "from bob"), (carol, "from carol")):
        await user.ok("POST", f"/api/conversations/{club['id']}/messages", json={"content": text})
    await alice.ok("POST", f"/api/users/{bob.id}/block")
    context, page, errors = await signed_in(browser, base_url, "alice")
    collapsed = page.locator("[data-testid=message][data-collapsed=true]")

    await conversation(page, "Club").click()
    await expect(message(page, "from carol")).to_be_visible()
    await expect(collapsed).to_have_count(1)
    await expect(message(page, "from bob")).to_have_count(0)
    assert await accessibility_problems(page, context="#message-items") == []
    await collapsed.get_by_test_id("show-collapsed").click()
    await expect(message(page, "from bob")).to_be_visible()
    await expect(collapsed).to_have_count(0)
    bob = await relogin(rest, bob)  # the token of `accounts` lives 3-4 s here
    await bob.ok("POST", f"/api/conversations/{club['id']}/messages", json={"content": "bob again"})
    await expect(collapsed).to_have_count(1)
    await expect(page.get_by_test_id("message").last).to_have_attribute("data-collapsed", "true")
    await expect(message(page, "bob again")).to_have_count(0)

    async def toggle_block(label: str) -> None:
        await conversation(page, "bob").click()
        await page.get_by_test_id("chat-info-button").click()
        toggle = page.get_by_test_id("block-toggle")
        await expect(toggle).to_have_text(label)
        await toggle.click()
        await expect(toggle).not_to_have_text(label)
        await page.get_by_test_id("info-close").click()
        await conversation(page, "Club").click()

    await toggle_block("Unblock")
    await expect(message(page, "bob again")).to_be_visible()
    await expect(collapsed).to_have_count(0)
    await toggle_block("Block")
    await expect(collapsed).to_have_count(1)  # "from bob", shown on demand before, stays shown
    await expect(message(page, "bob again")).to_have_count(0)

    # A member of the group is blocked from its panel, with no direct chat between them.
    await page.get_by_test_id("chat-info-button").click()
    carols = page.get_by_test_id("member").filter(has=page.get_by_test_id("member-name").get_by_text("carol", exact=True))
    await expect(carols.get_by_test_id("block-toggle")).to_have_text("Block")
    mine = page.get_by_test_id("member").filter(has=page.get_by_test_id("member-name").get_by_text("alice (you)", exact=True))
    await expect(mine.get_by_test_id("block-toggle")).to_have_count(0)
    await carols.get_by_test_id("block-toggle").click()
    await expect(carols.get_by_test_id("block-toggle")).to_have_text("Unblock")
    await page.get_by_test_id("info-close").click()
    await expect(collapsed).to_have_count(2)
    await expect(message(page, "from carol")).to_have_count(0)
    blocked = await page.evaluate("window.hubbub.api.request('GET', '/users/blocked').then((users) => users.map((user) => user.username))")
    assert sorted(blocked) == ["bob", "carol"]
    assert errors == [], errors
    await context.close()


async def test_two_factor_enrol_and_sign_in(browser, base_url, rest):
    import time

    import pyotp

    await accounts(rest, "alice")
    context, page, errors = await signed_in(browser, base_url, "alice")
    await open_profile(page)
    elsewhere = []  # requests leaving the server: the QR code must be drawn without any
    page.on("request", lambda request: None if request.url.startswith((base_url, "data:")) else elsewhere.append(request.url))
    await page.get_by_test_id("two-factor-password").fill(PASSWORD)
    await page.get_by_test_id("two-factor-enrol").click()
    await expect(page.get_by_test_id("two-factor-qr")).to_be_visible()
    assert (await page.get_by_test_id("two-factor-qr").get_attribute("src")).startswith("data:image/svg+xml")
    assert await page.get_by_test_id("two-factor-qr").evaluate("(img) => img.complete && img.naturalWidth > 0")
    assert elsewhere == [], elsewhere
    secret = await page.get_by_test_id("two-factor-secret").text_content()
    await page.get_by_test_id("two-factor-code").fill(pyotp.TOTP(secret).now())
    await page.get_by_test_id("two-factor-confirm").click()
    await expect(page.get_by_test_id("recovery-code")).to_have_count(10)
    await page.get_by_test_id("profile-close").click()

    await page.get_by_test_id("logout-button").click()
    await submit_login(page, "alice")
    await expect(page.get_by_test_id("two-factor-form")).to_be_visible()
    await page.get_by_test_id("login-code").fill(pyotp.TOTP(secret).at(time.time() + 30))  # the current one was spent
    await page.get_by_test_id("login-code-submit").click()
    await expect(page.get_by_test_id("app")).to_be_visible()
    await wait_connected(page)
    assert errors == [], errors
    await context.close()


async def test_deleting_the_account(browser, base_url, rest):
    await accounts(rest, "alice")
    context, page, errors = await signed_in(browser, base_url, "alice")
    await open_profile(page)
    await page.get_by_test_id("delete-password").fill(PASSWORD)
    await page.get_by_test_id("delete-confirm").check()
    await page.get_by_test_id("delete-account").click()
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    response = await rest.client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status == 401
    assert errors == [], errors
    await context.close()


async def test_deleting_the_account_with_two_factor_asks_for_a_code(browser, base_url, rest):
    import pyotp

    (alice,) = await accounts(rest, "alice")
    context, page, errors = await signed_in(browser, base_url, "alice")
    await open_profile(page)
    await expect(page.get_by_test_id("delete-code")).to_be_hidden()
    await page.get_by_test_id("profile-close").click()
    alice = await relogin(rest, alice)  # the token of `accounts` lives 3-4 s here
    enrolment = await alice.ok("POST", "/api/auth/2fa/enrol", json={"password": PASSWORD})
    codes = (await alice.ok("POST", "/api/auth/2fa/confirm", json={"code": pyotp.TOTP(enrolment["secret"]).now()}))["recovery_codes"]

    await open_profile(page)
    await expect(page.get_by_test_id("delete-code")).to_be_visible()
    await page.get_by_test_id("delete-password").fill(PASSWORD)
    await page.get_by_test_id("delete-confirm").check()
    await page.get_by_test_id("delete-code").fill("not-a-code")
    await page.get_by_test_id("delete-account").click()
    await expect(page.get_by_test_id("delete-status")).to_have_text("That code is wrong.")
    assert await page.evaluate("window.hubbub.api.me().then((me) => me.username)") == "alice"
    await page.get_by_test_id("delete-code").fill(codes[0])
    await page.get_by_test_id("delete-account").click()
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    response = await rest.client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status == 401
    assert errors == [], errors
    await context.close()
