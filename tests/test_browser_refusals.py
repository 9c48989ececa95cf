"""A text the server refuses for good (413 here) is not lost: it stays on screen without a
"Retry" that could only fail again, survives a reload, and "Edit" puts it back into the
composer after whatever was typed since."""

from __future__ import annotations

import dataclasses

import pytest

from tests.browser_kit import (
    conversation,
    expect,
    open_direct,
    pytestmark,
    wait_connected,
)

TOO_LONG = "this message is longer than the server allows"


@pytest.fixture
def settings(settings):
    """A server that takes shorter messages than the client's limit (PROTOCOL §5's default),
    as one configured differently would: its 413 is the refusal under test."""
    return dataclasses.replace(settings, message_max_chars=20)


async def test_a_refused_text_goes_back_to_the_composer(browser, base_url, rest):
    context, page, errors, bob, conversation_id = await open_direct(browser, base_url, rest)

    box = page.get_by_test_id("message-input")
    await box.fill(TOO_LONG)
    await box.press("Enter")
    failed = page.locator("[data-testid=message][data-pending=failed]")
    await expect(failed.get_by_test_id("send-error")).to_contain_text("Not sent (too long)")
    await expect(failed.get_by_test_id("retry-send")).to_have_count(0)

    # Still there after a reload (the outbox is kept in localStorage), still without Retry.
    await page.reload()
    await wait_connected(page)
    await conversation(page, "bob").click()
    await expect(failed.get_by_test_id("message-body")).to_have_text(TOO_LONG)
    await expect(failed.get_by_test_id("retry-send")).to_have_count(0)

    await box.fill("short one")
    await failed.get_by_test_id("edit-failed").click()
    await expect(box).to_have_value(f"short one\n{TOO_LONG}")
    await expect(failed).to_have_count(0)
    assert [m["content"] for m in await bob.ok("GET", f"/api/conversations/{conversation_id}/messages")] == ["hi"]
    assert errors == [], errors
    await context.close()
