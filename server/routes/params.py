"""Path parameters."""

from aiohttp import web

from handlers.errors import NotFound

_MAX_ID = 2**63 - 1


def path_id(request: web.Request, name: str) -> int:
    """A numeric id from the path; anything else names no resource (404)."""
    raw = request.match_info[name]
    # isdigit() alone admits "²" and "١", which int() then refuses or reads differently.
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= _MAX_ID:
        raise NotFound()
    return int(raw)
