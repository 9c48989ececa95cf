"""What the browser tests share: Debian's Chromium driven by Python Playwright against a real
server on a loopback port and a fresh database, and helpers that drive the client the way a
person would. tests/conftest.py imports the fixtures, so that every test module has them.

The tests are skipped, with the reason, when /usr/bin/chromium or the playwright module is
missing. CI installs both: `apt-get install -y chromium` and `pip install playwright` (never
`playwright install`, which downloads a browser build).
"""

from __future__ import annotations

import asyncio
import os
import re
import struct
import zlib
from pathlib import Path

import pytest

try:
    from playwright.async_api import Page, async_playwright, expect
except ImportError:  # pragma: no cover - depends on the machine
    async_playwright = None

# Debian's package; HUBBUB_CHROMIUM points elsewhere (say, /usr/bin/chromium-browser).
CHROMIUM = os.environ.get("HUBBUB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "secret-pass-1"
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 780}

pytestmark = [
    pytest.mark.skipif(async_playwright is None, reason="the playwright module is not installed (pip install playwright)"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]

if async_playwright is not None:
    # Pushes cross two browsers and a server in one event loop: give them some room.
    expect.set_options(timeout=10_000)


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
async def server(aiohttp_server, app):
    """The app on a real loopback port, which the browser reaches like any other client."""
    return await aiohttp_server(app)


@pytest.fixture
async def base_url(server) -> str:
    return str(server.make_url("/"))


@pytest.fixture
async def rest(aiohttp_client, server):
    """REST helpers on the same server, for setting up data without the browser."""
    from tests.chat import UserFactory

    return UserFactory(await aiohttp_client(server))


@pytest.fixture
async def browser():
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


class Errors(list):
    """JavaScript errors of a page; a test ends by asserting there were none."""


# What Chromium itself logs for requests that fail while the test has the page offline.
NETWORK_NOISE = re.compile(r"Failed to load resource|WebSocket connection to .* failed|net::ERR_")


async def open_page(browser, base_url: str, viewport=LAPTOP, **options) -> tuple:
    """A page in a context of its own; `options` go to new_context (say, permissions)."""
    context = await browser.new_context(viewport=viewport, accept_downloads=True, **options)
    page = await context.new_page()
    errors = Errors()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" and not NETWORK_NOISE.search(message.text) else None)
    await page.goto(base_url)
    return context, page, errors


# --- helpers ----------------------------------------------------------------------------------


async def register(page: Page, username: str, nickname: str) -> None:
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    await page.get_by_test_id("show-register").click()
    await page.get_by_test_id("register-username").fill(username)
    await page.get_by_test_id("register-email").fill(f"{username}@example.com")
    await page.get_by_test_id("register-nickname").fill(nickname)
    await page.get_by_test_id("register-password").fill(PASSWORD)
    await page.get_by_test_id("register-submit").click()
    await expect(page.get_by_test_id("app")).to_be_visible()
    await expect(page.get_by_test_id("me")).to_contain_text(nickname)


async def submit_login(page: Page, identity: str, password: str = PASSWORD) -> None:
    """The sign-in form filled in and sent; the caller expects what follows (the app, or the
    two-factor step)."""
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    await page.get_by_test_id("login-identity").fill(identity)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()


async def login(page: Page, identity: str, password: str = PASSWORD) -> None:
    await submit_login(page, identity, password)
    await expect(page.get_by_test_id("app")).to_be_visible()


async def wait_connected(page: Page) -> None:
    await page.wait_for_function("() => window.hubbub && window.hubbub.socket.state === 'open' && window.hubbub.chat.synced")


async def accounts(rest, *usernames: str) -> list:
    """Users made over REST (`tests.chat.ChatUser`), each with the password `login` types."""
    return [await rest.make(username, PASSWORD) for username in usernames]


async def signed_in(browser, base_url: str, identity: str, viewport=LAPTOP, **options) -> tuple:
    """`open_page`'s (context, page, errors), signed in as `identity` with the socket synced."""
    context, page, errors = await open_page(browser, base_url, viewport, **options)
    await login(page, identity)
    await wait_connected(page)
    return context, page, errors


async def send(page: Page, text: str) -> None:
    box = page.get_by_test_id("message-input")
    await box.fill(text)
    await box.press("Enter")


def conversation(page: Page, name: str):
    return page.get_by_test_id("conversation-item").filter(has=page.get_by_test_id("conversation-name").get_by_text(name, exact=True))


def message(page: Page, text: str):
    return page.get_by_test_id("message").filter(has=page.get_by_test_id("message-body").get_by_text(text, exact=True))


def notice(page: Page, text: str):
    return page.get_by_test_id("notice").filter(has_text=text)


async def open_direct(browser, base_url: str, rest) -> tuple:
    """Alice in the browser with her direct chat with Bob open (his "hi" in it); Bob over REST.
    Returns (context, page, errors, bob, the conversation's id)."""
    alice, bob = await accounts(rest, "alice", "bob")
    direct = await bob.ok("POST", "/api/messages", json={"receiver_id": alice.id, "content": "hi"})
    context, page, errors = await signed_in(browser, base_url, "alice")
    await conversation(page, "bob").click()
    await expect(message(page, "hi")).to_be_visible()
    return context, page, errors, bob, direct["conversation_id"]


async def hold_first_answer(page: Page, url_pattern: str) -> asyncio.Future:
    """The first request to `url_pattern` is answered by the server at once but held from the
    page: the future gives (route, answer) for the test to `route.fulfill(response=answer)`
    when it chooses, after something that happened meanwhile. Later requests pass."""
    held: asyncio.Future = asyncio.get_running_loop().create_future()

    async def hold(route) -> None:
        answer = await route.fetch()
        if held.done():
            await route.fulfill(response=answer)
        else:
            held.set_result((route, answer))

    await page.route(url_pattern, hold)
    return held


async def seqs(page: Page) -> list[int]:
    return await page.eval_on_selector_all("[data-testid=message][data-seq]", "els => els.map(e => Number(e.dataset.seq))")


async def bodies(page: Page) -> list[str]:
    return await page.eval_on_selector_all("[data-testid=message] [data-testid=message-body]", "els => els.map(e => e.textContent)")


AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


async def accessibility_problems(page: Page, *, context: str = "document") -> list[str]:
    """The serious and critical axe-core violations of what the page shows now (WCAG 2.x A
    and AA rules and axe's best practices), one line each with the elements at fault. axe is
    put in through the DevTools protocol, which the page's CSP does not cover."""
    if context != "document":
        await page.locator(context).wait_for(state="visible")
    if not await page.evaluate("() => Boolean(window.axe)"):
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0")
    result = await page.evaluate(
        """async (context) => {
            const target = context === "document" ? document : document.querySelector(context);
            return await window.axe.run(target, { resultTypes: ["violations"] });
        }""",
        context,
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:5]}"
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


def png(width: int, height: int) -> bytes:
    """A small valid PNG (a gradient), made here so the test needs no fixture files."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 180)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


