"""Message search (PROTOCOL §3, GET /api/search): the caller's messages that hold every word of
a query, newest first, each with a snippet of where the words are."""

from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.errors import ValidationFailed
from handlers.services.conversations import require_member
from handlers.services.message_views import message_vos
from storage import search as search_store
from storage.search_terms import match_spans, query_terms, searchable_text

# Each term is one more full-text lookup; a CJK query of 33 characters is 32 pairs.
MAX_QUERY_TERMS = 32
SNIPPET_CHARS = 120
# How much of the text before the first match a snippet shows, at most.
SNIPPET_LEAD = 30
ELLIPSIS = "…"


class SearchService:
    def __init__(self, db: AsyncEngine) -> None:
        self._db = db

    async def search(self, user_id: int, *, q: str, conversation_id: int | None, before: int | None, limit: int) -> dict:
        """A page of hits below message id `before` (all of them: None): `{hits, next_before}`,
        where `next_before` is the cursor of the next page, or None when this is the last."""
        terms = query_terms(q)
        if not terms:
            raise ValidationFailed({"q": ["has no letter or digit to search for"]})
        if len(terms) > MAX_QUERY_TERMS:
            raise ValidationFailed({"q": [f"has more than {MAX_QUERY_TERMS} words to search for"]})
        async with self._db.connect() as conn:
            if conversation_id is not None:
                await require_member(conn, conversation_id, user_id)
            # One more than asked for tells whether there is a next page.
            rows = await search_store.find(conn, user_id, terms, conversation_id=conversation_id, before=before, limit=limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            vos = await message_vos(conn, rows, viewer_id=user_id)
        hits = [{"message": vo, "snippet": snippet(searchable_text(row.msg_type, row.content), q)} for row, vo in zip(rows, vos)]
        return {"hits": hits, "next_before": rows[-1].id if more else None}


def snippet(text: str, query: str) -> list[dict]:
    """At most SNIPPET_CHARS of `text` around its first match of `query`, as parts in order:
    `{"text", "match"}`, `match` true for the matched words. Plain text: a client shows each
    part as text (never as HTML) and marks the matches as it likes."""
    spans = match_spans(text, query)
    start, end = _window(text, spans[0][0] if spans else 0)
    parts = []
    at = start
    for span_start, span_end in spans:
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start >= span_end:
            continue
        if span_start > at:
            parts.append({"text": text[at:span_start], "match": False})
        parts.append({"text": text[span_start:span_end], "match": True})
        at = span_end
    if at < end:
        parts.append({"text": text[at:end], "match": False})
    if start > 0:
        parts.insert(0, {"text": ELLIPSIS, "match": False})
    if end < len(text):
        parts.append({"text": ELLIPSIS, "match": False})
    return _joined(parts)


def _window(text: str, first_match: int) -> tuple[int, int]:
    if len(text) <= SNIPPET_CHARS:
        return 0, len(text)
    start = max(0, min(first_match - SNIPPET_LEAD, len(text) - SNIPPET_CHARS))
    # Begin at a word when there is a space between the cut and the match.
    space = text.find(" ", start, first_match)
    if start > 0 and space >= 0:
        start = space + 1
    return start, min(len(text), start + SNIPPET_CHARS)


def _joined(parts: list[dict]) -> list[dict]:
    """Neighbouring parts of the same kind as one (an ellipsis next to plain text)."""
    joined: list[dict] = []
    for part in parts:
        if joined and joined[-1]["match"] == part["match"]:
            joined[-1] = {"text": joined[-1]["text"] + part["text"], "match": part["match"]}
        else:
            joined.append(part)
    return joined
