"""Everyday basics of issue #15 item 5 that the first round left: the image viewer, desktop
notifications and a sound for a hidden tab (off until asked for), the connection state that
informs without blocking, and the layout at phone width (nothing wider than the screen, menus
and pickers inside it)."""

from __future__ import annotations

from aiohttp import FormData

from tests.browser_kit import (
    PHONE,
    accounts,
    conversation,
    expect,
    login,
    message,
    open_page,
    png,
    pytestmark,
    send,
    signed_in,
    wait_connected,
)

# The page's Notification and visibility, observable and switchable from the test: what a
# notification shows is recorded, sounds are counted, and the tab can be "hidden".
SPIES = """
window.__notes = [];
window.__sounds = 0;
const RealNotification = window.Notification;
window.Notification = class {
  static get permission() { return RealNotification.permission; }
  static requestPermission() { return RealNotification.requestPermission(); }
  constructor(title, options) { window.__notes.push({ title, body: options.body }); window.__lastNote = this; }
  close() {}
};
const createOscillator = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () { window.__sounds += 1; return createOscillator.call(this); };
let hidden = false;
Object.defineProperty(Document.prototype, "visibilityState", { get() { return hidden ? "hidden" : "visible"; }, configurable: true });
Object.defineProperty(Document.prototype, "hidden", { get() { return hidden; }, configurable: true });
window.__setHidden = (value) => { hidden = value; document.dispatchEvent(new Event("visibilitychange")); };
"""


async def test_image_viewer_and_notifications_for_a_hidden_tab(browser, base_url, rest):
    alice, bob, carol = await accounts(rest, "alice", "bob", "carol")
    form = FormData()
    form.add_field("file", png(64, 40), filename="sunset.png", content_type="image/png")
    upload = await bob.ok("POST", "/api/files", data=form)
    sent = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": '{"file_id": %d}' % upload["id"], "msg_type": 2})
    await carol.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "quiet please"})

    context, page, errors = await open_page(browser, base_url, permissions=["notifications"])
    await context.add_init_script(SPIES)
    await page.reload()
    await login(page, "alice")
    await wait_connected(page)

    # A click on an image shows it large, downloads nothing; Esc closes only the viewer.
    await conversation(page, "bob").click()
    await expect(conversation(page, "bob").get_by_test_id("unread-badge")).to_have_count(0)
    downloads = []
    page.on("download", lambda download: downloads.append(download))
    await page.get_by_test_id("image-open").click()
    viewer = page.get_by_test_id("lightbox")
    await expect(viewer).to_be_visible()
    await page.wait_for_function("() => { const i = document.querySelector('[data-testid=lightbox-image]'); return i.complete && i.naturalWidth === 64; }")
    await expect(viewer.get_by_test_id("lightbox-caption")).to_contain_text("sunset.png")
    await page.keyboard.press("Escape")
    await expect(viewer).to_be_hidden()
    await expect(page.get_by_test_id("chat")).to_be_visible()
    await page.get_by_test_id("image-open").click()
    await viewer.get_by_test_id("lightbox-close").click()
    await expect(viewer).to_be_hidden()
    assert downloads == []

    # Off by default: a message to a hidden tab makes no notification and no sound.
    await page.evaluate("window.__setHidden(true)")
    await bob.ok("POST", f"/api/conversations/{sent['conversation_id']}/messages", json={"content": "first"})
    await expect(conversation(page, "bob").get_by_test_id("unread-badge")).to_have_text("1")
    assert await page.evaluate("[window.__notes.length, window.__sounds]") == [0, 0]
    await page.evaluate("window.__setHidden(false)")

    # Turned on in the profile (the permission prompt is answered by the context).
    await page.get_by_test_id("me").click()
    await page.get_by_test_id("notify-desktop").check()
    await page.get_by_test_id("notify-sound").check()
    await page.get_by_test_id("profile-close").click()
    await expect(page.get_by_test_id("notify-desktop")).to_be_hidden()
    assert await page.evaluate("Notification.permission") == "granted"

    # Visible tab: nothing. Hidden: a notification naming the sender, and a sound.
    await bob.ok("POST", f"/api/conversations/{sent['conversation_id']}/messages", json={"content": "while you look"})
    await expect(message(page, "while you look")).to_be_visible()
    await conversation(page, "carol").click()
    await page.evaluate("window.__setHidden(true)")
    await bob.ok("POST", f"/api/conversations/{sent['conversation_id']}/messages", json={"content": "are you there?"})
    await page.wait_for_function("() => window.__notes.length === 1")
    assert await page.evaluate("window.__notes") == [{"title": "bob", "body": "are you there?"}]
    assert await page.evaluate("window.__sounds") > 0

    # A muted conversation stays silent.
    await alice.ok("PATCH", f"/api/conversations/{sent['conversation_id']}/settings", json={"muted": True})
    await expect(conversation(page, "bob")).to_have_attribute("data-muted", "true")
    sounds = await page.evaluate("window.__sounds")
    await bob.ok("POST", f"/api/conversations/{sent['conversation_id']}/messages", json={"content": "muted now"})
    await expect(conversation(page, "bob").get_by_test_id("conversation-preview")).to_have_text("muted now")
    assert await page.evaluate("[window.__notes.length, window.__sounds]") == [1, sounds]
    # ... but a mention gets through.
    await bob.ok("POST", f"/api/conversations/{sent['conversation_id']}/messages", json={"content": "@alice need you"})
    await page.wait_for_function("() => window.__notes.length === 2")
    assert await page.evaluate("window.__notes[1]") == {"title": "bob (mentioned you)", "body": "@alice need you"}

    # Clicking the notification opens its conversation.
    await page.evaluate("window.__setHidden(false); window.__lastNote.onclick()")
    await expect(page.get_by_test_id("chat-title")).to_have_text("bob")

    # The choice is kept for the next visit.
    await page.reload()
    await wait_connected(page)
    await page.get_by_test_id("me").click()
    await expect(page.get_by_test_id("notify-desktop")).to_be_checked()
    await expect(page.get_by_test_id("notify-sound")).to_be_checked()

    assert errors == [], errors
    await context.close()


SCROLL_TO_TOP_AS_THE_BANNER_APPEARS = """() => {
    const banner = document.getElementById("chat-connection");
    const list = document.querySelector("[data-testid=message-list]");
    new MutationObserver((_, observer) => {
        if (banner.hidden) return;
        list.scrollTop = 0;
        observer.disconnect();
    }).observe(banner, { attributes: true });
    window.hubbub.socket.drop();
}"""


async def test_phone_width_offline_reading_and_layout(browser, base_url, rest):
    alice, bob = await accounts(rest, "alice", "bob")
    sent = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "a long one " * 40})
    for n in range(30):
        await bob.ok("POST", f"/api/conversations/{sent['conversation_id']}/messages", json={"content": f"line {n} " + "words " * (n % 7) * 5})
    for n in range(3):
        await bob.ok("POST", f"/api/conversations/{sent['conversation_id']}/messages", json={"content": f"short {n}"})

    context, page, errors = await signed_in(browser, base_url, "alice", viewport=PHONE)

    async def fits() -> None:
        width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], width

    await fits()
    await conversation(page, "bob").click()
    await expect(message(page, "short 2")).to_be_visible()
    await fits()

    # Turning the phone keeps the place: the newest message when reading the newest, else
    # the message that was at the top.
    await page.get_by_test_id("message-list").evaluate("el => el.scrollTop = el.scrollHeight")
    await expect(message(page, "short 2")).to_be_in_viewport()
    await page.set_viewport_size({"width": PHONE["height"], "height": PHONE["width"]})
    await expect(message(page, "short 2")).to_be_in_viewport()
    await page.set_viewport_size(PHONE)
    await expect(message(page, "short 2")).to_be_in_viewport()
    line = page.get_by_test_id("message").filter(has_text="line 12 ")
    await line.evaluate("el => el.scrollIntoView({block: 'start'})")
    await page.wait_for_timeout(100)  # the scroll event comes with the next frame
    for size in ({"width": PHONE["height"], "height": PHONE["width"]}, PHONE):
        await page.set_viewport_size(size)
        await page.wait_for_timeout(200)
        top = await line.evaluate("el => el.getBoundingClientRect().top - el.closest('[data-testid=message-list]').getBoundingClientRect().top")
        assert abs(top) < 20, (size, top)
    await page.get_by_test_id("message-list").evaluate("el => el.scrollTop = el.scrollHeight")

    # The reaction picker and the list's menu stay on the screen.
    await message(page, "short 0").get_by_test_id("react-button").click()
    box = await page.get_by_test_id("reaction-picker").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    await page.get_by_test_id("reaction-picker").get_by_test_id("reaction-choice").nth(1).click()
    await expect(message(page, "short 0").get_by_test_id("reaction")).to_have_text("❤️1")

    # Offline: the open chat says so, and reading and writing go on.
    # The user scrolls up in the very frame the banner appears, before the list's resize is
    # observed: the scroll wins over keeping the old place.
    await context.set_offline(True)
    await page.evaluate(SCROLL_TO_TOP_AS_THE_BANNER_APPEARS)
    state = page.get_by_test_id("chat-connection")
    await expect(state).to_be_visible()
    await expect(state).to_contain_text("Offline")
    await expect(message(page, "a long one " * 40)).to_be_in_viewport()
    await send(page, "written offline")
    await expect(page.locator("[data-testid=message][data-pending]")).to_have_count(1)
    await context.set_offline(False)
    await expect(state).to_contain_text("Back online", timeout=20_000)
    await expect(state).to_be_hidden()
    await expect(page.locator("[data-testid=message][data-pending]")).to_have_count(0)
    assert (await bob.ok("GET", f"/api/conversations/{sent['conversation_id']}/messages"))[-1]["content"] == "written offline"

    await page.get_by_test_id("back-button").click()
    row = page.locator(".conversation-row").filter(has=conversation(page, "bob"))
    await row.get_by_test_id("conversation-menu-button").click()
    box = await page.get_by_test_id("conversation-menu").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("conversation-menu")).to_be_hidden()
    await fits()

    assert errors == [], errors
    await context.close()


async def test_touch_screen_tap_shows_a_messages_actions(browser, base_url, rest):
    alice, bob = await accounts(rest, "alice", "bob")
    sent = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "first"})
    await bob.ok("POST", f"/api/conversations/{sent['conversation_id']}/messages", json={"content": "second"})

    context, page, errors = await signed_in(browser, base_url, "alice", viewport=PHONE, has_touch=True)
    await conversation(page, "bob").tap()
    first, second = message(page, "first"), message(page, "second")
    await expect(first).to_be_visible()
    # No hover on a touch screen: the actions stay out of the way until a message is tapped.
    await expect(first.get_by_test_id("reply-button")).to_be_hidden()
    await first.get_by_test_id("message-body").tap()
    await expect(first.get_by_test_id("reply-button")).to_be_visible()
    await expect(second.get_by_test_id("reply-button")).to_be_hidden()
    await second.get_by_test_id("message-body").tap()
    await expect(first.get_by_test_id("reply-button")).to_be_hidden()
    await second.get_by_test_id("reply-button").tap()
    await expect(page.get_by_test_id("composer-context")).to_contain_text("Replying to bob")

    assert errors == [], errors
    await context.close()


# The browser's permission prompt, answered as the test says: what the page asks is counted.
PROMPT = """
window.__asked = 0;
window.__answer = "denied";
window.__notes = [];
let permission = "default";
window.Notification = class {
  static get permission() { return permission; }
  static async requestPermission() { window.__asked += 1; permission = window.__answer; return permission; }
  constructor(title, options) { window.__notes.push({ title, body: options.body }); }
  close() {}
};
"""


async def test_notifications_are_asked_for_on_the_click_and_a_refusal_leaves_them_off(browser, base_url, rest):
    await accounts(rest, "alice")
    context, page, errors = await open_page(browser, base_url)
    await context.add_init_script(PROMPT)
    await page.reload()
    await login(page, "alice")
    await wait_connected(page)

    # Signing in and opening the profile ask nothing; the switch starts off.
    await page.get_by_test_id("me").click()
    desktop = page.get_by_test_id("notify-desktop")
    await expect(desktop).not_to_be_checked()
    await expect(page.get_by_test_id("notify-sound")).not_to_be_checked()
    assert await page.evaluate("window.__asked") == 0

    # Turned on: the browser asks; refused, the switch goes back off and says where to allow it.
    await desktop.click()
    await expect(page.get_by_test_id("notify-status")).to_contain_text("does not allow notifications")
    await expect(desktop).not_to_be_checked()
    assert await page.evaluate("window.__asked") == 1
    await page.get_by_test_id("profile-close").click()
    await page.get_by_test_id("me").click()
    await expect(desktop).not_to_be_checked()

    # Allowed the second time: on, and kept.
    await page.evaluate("window.__answer = 'granted'")
    await desktop.check()
    await expect(page.get_by_test_id("notify-status")).to_be_hidden()
    assert await page.evaluate("window.__asked") == 2
    await page.get_by_test_id("profile-close").click()
    await page.get_by_test_id("me").click()
    await expect(desktop).to_be_checked()

    assert errors == [], errors
    await context.close()
