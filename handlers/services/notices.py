"""Group notices in history: which of them a history page carries.

A notice has no seq of its own (seqs count messages only, PROTOCOL §2): it sits after the
message `after_seq`. A page of messages `lo..hi` carries the notices just before each of its
messages (`after_seq` from `lo - 1` to `hi - 1`), and, when it reaches the conversation's newest
message, every notice after that too. Pages fetched one after another (`before=`, or `after=`
until a short page) so carry every notice once; a page that reaches the end may repeat the
trailing notices a client holds already, which it recognises by id."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from handlers.objects import notice_vo
from storage import notices as notice_store


def page_range(seqs: Sequence[int], last_seq: int, *, after: int | None, before: int | None) -> tuple[int, int | None] | None:
    """(lowest, highest or None for no end) `after_seq` of the notices a page of the messages
    `seqs` (ascending) carries; None for none. `last_seq` is the conversation's, read before
    the page: a message seq at or past it means the page reaches the end."""
    if seqs:
        return seqs[0] - 1, None if seqs[-1] >= last_seq else seqs[-1] - 1
    if before is not None:
        # Nothing below `before`: the notices before message `before` came with its page.
        return None
    # Nothing after `after` (or no message at all): whatever happened since.
    return (after or 0), None


async def page_notices(conn: AsyncConnection, conversation_id: int, rows: Sequence[Any], last_seq: int, *, after: int | None, before: int | None) -> list[dict]:
    bounds = page_range([row.seq for row in rows], last_seq, after=after, before=before)
    if bounds is None:
        return []
    return [notice_vo(notice) for notice in await notice_store.between(conn, conversation_id, *bounds)]
