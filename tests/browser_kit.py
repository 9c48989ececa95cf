"""What the browser tests share: Debian's Chromium driven by Python Playwright against a real
server on a loopback port and a fresh database, and helpers that drive the client the way a
person would. Test modules import the fixtures they use by name (pytest finds them there).

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


async def open_page(browser, base_url: str, viewport=LAPTOP) -> tuple:
    context = await browser.new_context(viewport=viewport, accept_downloads=True)
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


async def login(page: Page, identity: str, password: str = PASSWORD) -> None:
    await expect(page.get_by_test_id("login-form")).to_be_visible()
    await page.get_by_test_id("login-identity").fill(identity)
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("app")).to_be_visible()


async def wait_connected(page: Page) -> None:
    await page.wait_for_function("() => window.hubbub && window.hubbub.socket.state === 'open' && window.hubbub.chat.synced")


async def send(page: Page, text: str) -> None:
    box = page.get_by_test_id("message-input")
    await box.fill(text)
    await box.press("Enter")


def conversation(page: Page, name: str):
    return page.get_by_test_id("conversation-item").filter(has=page.get_by_test_id("conversation-name").get_by_text(name, exact=True))


def message(page: Page, text: str):
    return page.get_by_test_id("message").filter(has=page.get_by_test_id("message-body").get_by_text(text, exact=True))


async def seqs(page: Page) -> list[int]:
    return await page.eval_on_selector_all("[data-testid=message][data-seq]", "els => els.map(e => Number(e.dataset.seq))")


async def bodies(page: Page) -> list[str]:
    return await page.eval_on_selector_all("[data-testid=message] [data-testid=message-body]", "els => els.map(e => e.textContent)")


def png(width: int, height: int) -> bytes:
    """A small valid PNG (a gradient), made here so the test needs no fixture files."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 180)) for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


