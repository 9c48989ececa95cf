"""JSON on the wire, through orjson (several times faster than the standard library, and the
pushed-event fan-out serializes on the hot path)."""

from typing import Any

import orjson


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


loads = orjson.loads
JSONDecodeError = orjson.JSONDecodeError
