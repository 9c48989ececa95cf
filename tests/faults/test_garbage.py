"""A garbage barrage on every REST route the OpenAPI document lists and on every socket frame
type, beside a control socket. The server never answers 5xx (the database is up), every REST
answer is the envelope with `code` equal to the status (PROTOCOL §1), every frame gets exactly
one well-formed reply echoing its id when readable (§4), and the control socket stays open and
keeps sending and hearing its messages."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from handlers.registry import ENTRY_POINT_GROUP
from tests.faults.checker import Checker
from tests.faults.client import Account, Dialer, Link, call, group, ok, register
from tests.faults.garbage import PATH_IDS, RAW_BODIES, VALUES, Frame, frames, wrong_objects
from tests.faults.hubbub import NO_RATE_LIMIT
from tests.faults.load import outgoing

CONCURRENCY = 8
CONTROL_EVERY = 100  # garbage requests or frames between two rounds of the control socket
FRAME_MAX = 65536  # ws_max_frame_bytes
REPLY_CODES = {200, 201, 400, 403, 404, 409, 413, 422, 429}
EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str  # already percent-encoded
    headers: dict[str, str]
    body: bytes | None = None
    params: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        body = "" if self.body is None else f" body {self.body[:80]!r}{'...' if len(self.body) > 80 else ''}"
        return f"{self.method} {self.path}{'?' + str(dict(self.params))[:60] if self.params else ''}{body} {self.headers.get('Content-Type', '')}"


def json_request(method: str, path: str, token: str, body: bytes, content_type: str = "application/json") -> Request:
    return Request(method, path, {"Authorization": f"Bearer {token}", "Content-Type": content_type}, body)


def schema_fields(spec: dict, operation: dict) -> list[str]:
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return sorted(schema.get("properties", {}))


def query_text(value) -> str | None:
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        text.encode()
    except UnicodeEncodeError:
        return None
    return text


def rest_requests(spec: dict, token: str, real: dict[str, str]) -> Iterator[Request]:
    """Garbage for every documented operation; deletions last, so the others still find what they name."""
    operations = [(path, method.upper(), op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    operations.sort(key=lambda item: item[1] == "DELETE")
    auth = {"Authorization": f"Bearer {token}"}
    for path, method, operation in operations:
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        real_path = path.format(**{name: real[f"{path.split('/')[2]}.{name}"] for name in names})
        for name in names:
            for value in PATH_IDS:
                others = {n: real[f"{path.split('/')[2]}.{n}"] for n in names if n != name}
                segment = real[f"{path.split('/')[2]}.{name}"] if value == "{real}" else value
                yield Request(method, path.format(**others, **{name: segment}), auth)
        for header in [None, "Bearer", "Bearer not.a.token", "Basic YTpi", f"Bearer {token}x", "Bearer " + "x" * 5000]:
            yield Request(method, real_path, {"Authorization": header} if header else {})
        if "requestBody" in operation:
            for raw in RAW_BODIES:
                yield json_request(method, real_path, token, raw)
            yield json_request(method, real_path, token, b"{}", "text/plain")
            yield json_request(method, real_path, token, b"{}", "application/x-www-form-urlencoded")
            for body in wrong_objects(schema_fields(spec, operation)):
                yield json_request(method, real_path, token, json.dumps(body).encode())
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            for value in VALUES:
                text = query_text(value)
                if text is not None:
                    yield Request(method, real_path, auth, params=((parameter["name"], text),))
            yield Request(method, real_path, auth, params=((parameter["name"], "1"), (parameter["name"], "2")))
        if method == "GET" and "{" not in path:
            yield Request(method, real_path, auth, params=(("no_such_parameter", "1"),))
        yield Request("PUT", real_path, auth, b"{}")
    multipart = "multipart/form-data; boundary=xyz"
    yield json_request("POST", "/api/files", token, b"--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nhi\r\n--xyz--\r\n", multipart)
    yield json_request("POST", "/api/files", token, b"--xyz\r\n\r\n", multipart)
    yield json_request("POST", "/api/files", token, b"garbage", "multipart/form-data")
    yield json_request("POST", "/api/files", token, b"hello", "text/plain")
    yield Request("GET", "/api/no/such/route", auth)
    yield Request("GET", "/api/conversations/1/messages/extra", auth)


def envelope_problem(request: Request, status: int, headers, raw: bytes) -> str | None:
    """What is wrong with one answer, or None."""
    if status >= 500:
        return f"{status}"
    if status == 200 and request.method == "GET" and (request.path == "/api/openapi.json" or request.path.startswith("/api/files/")):
        return None  # the bare document and a file's bytes are not enveloped
    try:
        body = json.loads(raw)
    except ValueError:
        if status == 400 and raw.startswith(b"Got more than 8190 bytes") and len(request.path) + len(urlencode(request.params)) > 8190:
            return None  # not parseable HTTP: refused by the HTTP layer (PROTOCOL §1)
        return f"{status} with a body that is not JSON: {raw[:100]!r}"
    if not isinstance(body, dict) or set(body) != {"code", "message", "data"}:
        return f"{status} with a body that is not the envelope: {raw[:200]!r}"
    if body["code"] != status or not isinstance(body["message"], str) or not body["message"]:
        return f"{status} with envelope {raw[:200]!r}"
    if status == 422 and not (isinstance(body["data"], dict) and isinstance(body["data"].get("errors"), dict)):
        return f"422 without data.errors: {raw[:200]!r}"
    if status in (429, 503) and "Retry-After" not in headers:
        return f"{status} without Retry-After"
    return None


class Control:
    """A socket of another user that keeps sending into its own group and must keep working."""

    def __init__(self, session: aiohttp.ClientSession, checker: Checker, account: Account, conversation: int) -> None:
        self.dialer = Dialer(session, checker.urls, account, checker, "control")
        self.checker = checker
        self.conversation = conversation
        self.rounds = 0
        self.link: Link | None = None

    async def open(self, deadline: float) -> None:
        self.link = await self.dialer.connect(deadline)

    async def round(self) -> None:
        self.rounds += 1
        assert not self.link.closed, f"the control socket was closed ({self.link.close_code})"
        for out in outgoing(f"control{self.rounds}", [self.conversation], 1):
            self.checker.sent(self.link.label, out.client_msg_id)
            reply = await self.link.request("send_message", {"conversation_id": out.conversation_id, "content": out.content, "client_msg_id": out.client_msg_id})
            assert reply["code"] == 201, f"control send answered {reply}"
            self.checker.replied(self.link.label, out.client_msg_id, reply["code"], reply["data"])
        assert (await self.link.request("ping"))["code"] == 200


async def rest_barrage(session: aiohttp.ClientSession, url: str, requests: list[Request], control: Control) -> tuple[Counter, list[str]]:
    codes: Counter = Counter()
    problems: list[str] = []
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(request: Request) -> None:
        async with gate:
            async with session.request(
                request.method, URL(url + request.path, encoded=True), headers=request.headers, data=request.body, params=request.params or None
            ) as response:
                raw = await response.read()
        codes[response.status] += 1
        problem = envelope_problem(request, response.status, response.headers, raw)
        if problem:
            problems.append(f"{request} → {problem}")

    for start in range(0, len(requests), CONTROL_EVERY):
        await asyncio.gather(*(one(request) for request in requests[start : start + CONTROL_EVERY]))
        await control.round()
    return codes, problems


async def frame_barrage(session: aiohttp.ClientSession, url: str, account: Account, garbage: list[Frame], control: Control) -> tuple[Counter, list[str]]:
    codes: Counter = Counter()
    problems: list[str] = []
    ws = await session.ws_connect(f"{url}/ws", headers=account.auth, max_msg_size=0)
    try:
        for n, frame in enumerate(garbage):
            if frame.kind == "binary":
                await ws.send_bytes(frame.payload)
            else:
                await ws.send_str(frame.payload)
            reply = await next_reply(ws)
            if reply is None:
                if not (len(frame.payload.encode() if isinstance(frame.payload, str) else frame.payload) > FRAME_MAX and ws.close_code == 1009):
                    problems.append(f"{frame.payload[:100]!r}: the socket closed ({ws.close_code}) instead of replying")
                ws = await session.ws_connect(f"{url}/ws", headers=account.auth, max_msg_size=0)
                continue
            codes[reply.get("code")] += 1
            if set(reply) != {"type", "id", "code", "message", "data"} or reply["type"] != "reply" or reply["id"] != frame.reply_id:
                problems.append(f"{frame.payload[:100]!r}: reply {str(reply)[:200]} (id should be {frame.reply_id!r})")
            elif reply["code"] not in REPLY_CODES or not isinstance(reply["message"], str):
                problems.append(f"{frame.payload[:100]!r}: reply {str(reply)[:200]}")
            if n % CONTROL_EVERY == 0:
                await control.round()
        # At the size limit a frame is read and answered; one byte over closes that socket (1009).
        await ws.send_str(json.dumps({"type": "ping", "id": "limit", "data": {"pad": ""}}).ljust(FRAME_MAX))
        reply = await next_reply(ws)
        if reply is None or reply["id"] != "limit" or reply["code"] not in REPLY_CODES:
            problems.append(f"a frame of exactly {FRAME_MAX} bytes: {reply}")
        await ws.send_str("x" * (FRAME_MAX + 1))
        if await next_reply(ws) is not None or ws.close_code != 1009:
            problems.append(f"a frame over the limit: close code {ws.close_code}, the contract says 1009")
        await control.round()
    finally:
        await ws.close()
    return codes, problems


async def next_reply(ws: aiohttp.ClientWebSocketResponse) -> dict | None:
    """The next reply (pushes are skipped); None when the socket closes first."""
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return None
        frame = json.loads(msg.data)
        if frame.get("type") == "reply":
            return frame


def frame_fields() -> dict[str, list[str]]:
    """Every frame type declared in the entry point group, with the fields of its schema."""
    return {point.name: sorted(point.load().schema().fields) for point in entry_points(group=ENTRY_POINT_GROUP)}


async def test_garbage_barrage_on_every_route_and_frame_type(farm, session):
    server = farm.start(NO_RATE_LIMIT)
    url = server.url
    checker = Checker([url])
    vandal, victim, keeper = [await register(session, url, f"garbage_{name}_{time.monotonic_ns() % 10**6}") for name in ("vandal", "victim", "keeper")]
    deadline = time.monotonic() + 120
    # The control socket's group has no vandal in it; the vandal's own conversations are what its garbage may hit.
    control_group = await group(session, url, keeper, [victim], "control")
    checker.watch(control_group, keeper.token)
    control = Control(session, checker, keeper, control_group)
    await control.open(deadline)
    vandal_group = await group(session, url, vandal, [victim], "vandal's")
    sent = await ok(session, url, "POST", f"/api/conversations/{vandal_group}/messages", vandal.token, json={"content": "real"})
    form = aiohttp.FormData()
    form.add_field("file", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, filename="real.png")
    uploaded = await ok(session, url, "POST", "/api/files", vandal.token, data=form)
    spare = await ok(session, url, "POST", "/api/auth/login", json={"username": vandal.username, "password": "fault suite password"})
    # A session of the vandal's own for the routes that name one, neither the barrage's nor the spare's.
    third = await ok(session, url, "POST", "/api/auth/login", json={"username": vandal.username, "password": "fault suite password"})
    (third_session,) = [s for s in await ok(session, url, "GET", "/api/auth/sessions", third["token"]) if s["current"]]

    spec = (await call(session, url, "GET", "/api/openapi.json"))[1]
    real = {
        "conversations.id": str(vandal_group),
        "conversations.user_id": str(victim.id),
        "users.id": str(victim.id),
        "files.id": str(uploaded["id"]),
        "messages.id": str(sent["id"]),
        "conversations.message_id": str(sent["id"]),
        "messages.emoji": "%F0%9F%91%8D",  # 👍, percent-encoded as the paths are
        "auth.session_id": str(third_session["id"]),
    }
    requests = [
        # Logout revokes the token it is sent with: a spare one of the same user goes there.
        Request(r.method, r.path, {k: v.replace(vandal.token, spare["token"]) for k, v in r.headers.items()}, r.body, r.params) if r.path == "/api/auth/logout" else r
        for r in rest_requests(spec, vandal.token, real)
    ]
    # Revoking first would turn the rest into 401s: the logouts go last.
    requests.sort(key=lambda r: r.path == "/api/auth/logout")
    garbage = list(frames(frame_fields(), {"conversation_id": vandal_group, "receiver_id": victim.id, "message_id": sent["id"], "seq": 1}))

    rest_codes, rest_problems = await rest_barrage(session, url, requests, control)
    frame_codes, frame_problems = await asyncio.wait_for(frame_barrage(session, url, vandal, garbage, control), max(1.0, deadline - time.monotonic()))
    await control.round()
    health = (await call(session, url, "GET", "/healthz"))[0]
    await control.link.close()
    report = await checker.verify()
    print(f"REST: {len(requests)} requests, {dict(sorted(rest_codes.items()))}; frames: {len(garbage)}, {dict(sorted(frame_codes.items(), key=str))}; control rounds {control.rounds}\n{report.summary()}")
    assert not rest_problems, f"{len(rest_problems)} bad REST answers:\n" + "\n".join(rest_problems[:EXAMPLES])
    assert not frame_problems, f"{len(frame_problems)} bad frame replies:\n" + "\n".join(frame_problems[:EXAMPLES])
    assert health == 200
    report.assert_clean()
