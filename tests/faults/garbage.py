"""Garbage for every REST route and frame type: wrong types, huge and odd values, broken
encodings. Deterministic, so a failure names a request that fails again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

DEEP = 5000  # nesting levels: past any JSON parser's recursion limit

# Field values of every wrong kind. None of them is rejected by json.dumps.
VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    2**31,
    2**63 - 1,
    2**63,
    2**64 + 1,
    -(2**63) - 1,
    1e308,
    "",
    " ",
    "1",
    "true",
    "x" * 5000,
    "\U0001F4AC" * 5000,
    "\u0000",
    "\ud800",
    "' OR 1=1 --",
    "../../etc/passwd",
    "<script>alert(1)</script>",
    [],
    [1, 2],
    {},
    {"$gt": 0},
]

# Path segments where the route wants an id; "{real}" stands for one that exists.
PATH_IDS = ["{real}", "0", "-1", "00", "9223372036854775807", "9223372036854775808", "1" * 40, "abc", "1.0", "1e3", "%00", "%EF%BC%91", "%D9%A1", "x" * 300]

# Request bodies that are not a JSON object, or not JSON at all.
RAW_BODIES: list[bytes] = [
    b"",
    b"not json",
    b"{",
    b"[]",
    b"null",
    b'"a string"',
    b"1",
    b"\xff\xfe\x00",
    b'{"a": "\\ud800"}',
    b"[" * DEEP + b"]" * DEEP,
    b'{"a": ' * 100 + b"1" + b"}" * 100,
    b'{"x": "' + b"y" * (1024 * 1024 + 10) + b'"}',  # over the server's 1 MiB body limit
]


def wrong_objects(fields: list[str]) -> Iterator[dict]:
    """JSON objects with the given fields wrong one at a time, all at once, and unknown fields."""
    for name in fields:
        for value in VALUES:
            yield {name: value}
    for value in VALUES:
        yield {name: value for name in fields}
    yield {"no_such_field": 1}
    yield {name: 1 for name in fields} | {"no_such_field": 1}


@dataclass(frozen=True, slots=True)
class Frame:
    """One client frame: `kind` is "text" or "binary"; `reply_id` is the id the reply must echo."""

    kind: str
    payload: str | bytes
    reply_id: Any


def readable_id(payload: str) -> Any:
    """The id the contract says a reply echoes: a string or integer id of a frame that is JSON,
    else null. JSON as the server reads it (orjson): a lone surrogate is not JSON, and an
    integer beyond 64 bits is read as a float, so it is no integer id."""
    try:
        frame = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(frame, dict):
        return None
    frame_id = frame.get("id")
    if isinstance(frame_id, str) or (isinstance(frame_id, int) and not isinstance(frame_id, bool)):
        return frame_id
    return None


def text(frame: Any) -> Frame:
    payload = json.dumps(frame)
    return Frame("text", payload, readable_id(payload))


def frames(types: dict[str, list[str]], real_ids: dict[str, int]) -> Iterator[Frame]:
    """Broken frames, then every frame type with wrong `data`. `types`: type → its data fields;
    `real_ids`: field → an id that exists, so some frames get past validation to the handler."""
    for raw in ["", " ", "not json", "{", "[]", "null", "1", '"ping"', '{"id": "x"}', '{"type": "ping", "id": "\\ud800"}', "[" * DEEP + "]" * DEEP]:
        yield Frame("text", raw, readable_id(raw))
    yield Frame("binary", b"", None)
    yield Frame("binary", b"\x00\xff" * 100, None)
    yield Frame("binary", json.dumps({"type": "ping", "id": "binary"}).encode(), None)
    for type_value in [None, 1, True, [], {}, "", "no.such.type", "x" * 10000, "PING", "ping "]:
        yield text({"type": type_value, "id": "t"})
    for id_value in [None, True, 1.5, [], {}, "x" * 10000, 2**70, -1, ""]:
        yield text({"type": "ping", "id": id_value})
    for type_name, fields in sorted(types.items()):
        for data in [None, [], "data", 1, {}]:
            yield text({"type": type_name, "id": f"{type_name}-data", "data": data})
        for n, data in enumerate(wrong_objects(fields)):
            yield text({"type": type_name, "id": f"{type_name}-{n}", "data": data})
        yield text({"type": type_name, "id": f"{type_name}-real", "data": {f: real_ids.get(f, 1) for f in fields}})
