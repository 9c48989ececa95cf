"""A pre-send hook: masks mild words and refuses a banned phrase."""

import re

from handlers.api import MessageRejected, OutgoingMessage

TEXT = 1
MASKED = re.compile(r"\b(darn|heck)\b", re.IGNORECASE)
BANNED = "buy followers"


async def mask_profanity(message: OutgoingMessage) -> str | None:
    if message.msg_type != TEXT:
        return None  # image and file messages carry a file reference, not words
    if BANNED in message.content.lower():
        raise MessageRejected("this message looks like spam")
    masked = MASKED.sub(lambda match: match.group(0)[0] + "*" * (len(match.group(0)) - 2) + match.group(0)[-1], message.content)
    return masked if masked != message.content else None
