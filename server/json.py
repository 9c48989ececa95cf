"""JSON on the wire, through orjson (several times faster than the standard library, and the
pushed-event fan-out serializes on the hot path)."""

from typing import Any

import orjson


def dumps_bytes(value: Any) -> bytes:
    """UTF-8 JSON as orjson makes it; everything the server sends is bytes on the wire."""
    return orjson.dumps(value)


loads = orjson.loads
JSONDecodeError = orjson.JSONDecodeError
