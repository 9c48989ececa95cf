"""Structured logs (issue #16 part 3): the JSON format of `hubbub serve`, the request id, the
startup and shutdown lines, and no secret in the log at any level."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from server.logs import JsonFormatter, describe_bus, describe_database, request_id_from, request_id_var, socket_var, user_id_var
from tests.processes import call, serve_without_settings

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class Served:
    def __init__(self, process: subprocess.Popen, port: int) -> None:
        self.process, self.port = process, port
        self.output = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(timeout=15) == 0
        self.output = self.process.stdout.read().decode()
        return self.output


def serve(tmp_path: Path, **settings: str) -> Served:
    return Served(*serve_without_settings(tmp_path, **settings))


@pytest.fixture
def json_server(tmp_path: Path) -> Iterator[Served]:
    served = serve(tmp_path, HUBBUB_LOG_FORMAT="json", HUBBUB_LOG_LEVEL="DEBUG")
    try:
        yield served
    finally:
        served.stop()


def records(output: str) -> list[dict]:
    lines = [line for line in output.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert isinstance(record, dict), line
        parsed.append(record)
    return parsed


async def test_json_lines_carry_the_fields_and_the_requests_id(json_server: Served):
    async with aiohttp.ClientSession(json_server.url) as session:
        async with session.get("/api/users/me", headers={"X-Request-ID": "trace-42.a_b"}) as response:
            assert response.status == 401
            assert response.headers["X-Request-ID"] == "trace-42.a_b"
    logged = records(json_server.stop())
    assert logged
    for record in logged:
        assert TIME.fullmatch(record["time"]), record
        assert record["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), record
        assert isinstance(record["logger"], str) and isinstance(record["message"], str), record
    access = [r for r in logged if r["logger"] == "aiohttp.access" and "/api/users/me" in r["message"]]
    assert len(access) == 1 and access[0]["request_id"] == "trace-42.a_b", access
    assert any(r["message"].startswith("hubbub serving ") for r in logged)
    assert logged[-1]["message"] == "hubbub stopped" and logged[-1]["level"] == "INFO"


def test_the_formatter_writes_the_context_the_plugin_and_the_traceback():
    formatter = JsonFormatter()
    tokens = (request_id_var.set("rid-1"), user_id_var.set(7), socket_var.set("s0ck"))
    try:
        try:
            raise ValueError("boom")
        except ValueError:
            record = logging.getLogger("hubbub.plugins.hubbub-pins").makeRecord(
                "hubbub.plugins.hubbub-pins", logging.ERROR, __file__, 1, "pin %s failed", ("x",), sys.exc_info()
            )
        line = json.loads(formatter.format(record))
    finally:
        for var, token in zip((request_id_var, user_id_var, socket_var), tokens):
            var.reset(token)
    assert TIME.fullmatch(line["time"]) and line["level"] == "ERROR" and line["message"] == "pin x failed"
    assert line["logger"] == "hubbub.plugins.hubbub-pins" and line["plugin"] == "hubbub-pins"
    assert (line["request_id"], line["user_id"], line["socket"]) == ("rid-1", 7, "s0ck")
    assert line["exc"].startswith("Traceback") and "ValueError: boom" in line["exc"]
    plain = json.loads(formatter.format(logging.getLogger("server.app").makeRecord("server.app", logging.INFO, __file__, 1, "hi", (), None)))
    assert set(plain) == {"time", "level", "logger", "message"}


def test_a_request_id_is_taken_only_when_it_is_well_formed():
    assert request_id_from("abc-DEF_1.2") == "abc-DEF_1.2"
    assert request_id_from("a" * 64) == "a" * 64
    for bad in (None, "", "a" * 65, "has space", "semi;colon", "new\nline", "ünï"):
        made = request_id_from(bad)
        assert made != bad and re.fullmatch(r"[0-9a-f]{32}", made), made
    assert request_id_from(None) != request_id_from(None)


async def test_the_request_id_is_echoed_on_every_answer_and_a_bad_one_replaced(app, aiohttp_client):
    client = await aiohttp_client(app)
    for method, path in (("GET", "/healthz"), ("GET", "/api/users/me"), ("GET", "/api/no-such-thing"), ("DELETE", "/healthz")):
        response = await client.request(method, path, headers={"X-Request-ID": "mine.1"})
        assert response.headers["X-Request-ID"] == "mine.1", (method, path, response.status)
        response = await client.request(method, path, headers={"X-Request-ID": "not mine!"})
        replaced = response.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", replaced), (method, path, replaced)
        response = await client.request(method, path)
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    response = await client.post("/api/auth/login", json={"username": "nobody", "password": "wrong-one"}, headers={"X-Request-ID": "login-1"})
    assert response.status == 401 and response.headers["X-Request-ID"] == "login-1"


def test_the_database_and_bus_are_described_without_credentials():
    described = describe_database("mysql+aiomysql://hubbub:s3cr3t-pass@127.0.0.1:3306/hubbub")
    assert described == "mysql 127.0.0.1:3306/hubbub"
    assert "s3cr3t" not in described and "hubbub:" not in described
    assert describe_database("sqlite+aiosqlite:///hubbub.db") == "sqlite hubbub.db"
    assert describe_bus("") == "none"
    bus = describe_bus("nats://bususer:bus-pass@10.0.0.5:4222")
    assert bus == "nats://10.0.0.5:4222" and "bus-pass" not in bus


def test_the_text_format_says_what_it_serves_and_that_it_stopped(tmp_path: Path):
    served = serve(tmp_path, HUBBUB_LOG_LEVEL="INFO")
    assert call(served.port, "GET", "/healthz")[0] == 200
    output = served.stop()
    serving = [line for line in output.splitlines() if "hubbub serving" in line]
    assert len(serving) == 1, output
    assert " INFO hubbub: " in serving[0]
    assert f"http://127.0.0.1:{served.port}" in serving[0] and "database sqlite hubbub.db" in serving[0] and "bus none" in serving[0]
    assert "plugins " in serving[0]
    stopped = [line for line in output.splitlines() if line.endswith("hubbub stopped")]
    assert len(stopped) == 1 and " INFO " in stopped[0], output
    assert output.splitlines()[-1] == stopped[0]
    assert "Running on" not in output  # aiohttp's own banner, not in the log's format


async def test_no_password_token_or_message_text_is_logged_even_at_debug(json_server: Served):
    password = "pw-Zq8-very-secret"
    contents = ("socket-words-Xy7Q", "rest-words-Kp3W")
    async with aiohttp.ClientSession(json_server.url) as session:
        tokens = []
        for name in ("alice", "bob"):
            async with session.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": password}) as r:
                assert r.status == 201
            async with session.post("/api/auth/login", json={"username": name, "password": password}) as r:
                assert r.status == 200
                tokens.append((await r.json())["data"]["token"])
        async with session.get("/api/users/me", headers={"Authorization": f"Bearer {tokens[1]}"}) as r:
            bob_id = (await r.json())["data"]["id"]
        alice = {"Authorization": f"Bearer {tokens[0]}"}
        async with session.ws_connect(f"/ws?token={tokens[0]}") as ws:
            await ws.send_json({"type": "send_message", "id": 1, "data": {"receiver_id": bob_id, "content": contents[0]}})
            while True:
                frame = await ws.receive_json(timeout=5)
                if frame.get("type") == "reply":
                    assert frame["code"] == 201, frame
                    break
        async with session.post("/api/messages", json={"receiver_id": bob_id, "content": contents[1]}, headers=alice) as r:
            assert r.status == 201
        async with session.post("/api/auth/login", json={"username": "alice", "password": password + "-wrong"}) as r:
            assert r.status == 401
        async with session.post("/api/auth/logout", headers=alice) as r:
            assert r.status == 200
    output = json_server.stop()
    logged = records(output)
    assert any(r["level"] == "DEBUG" for r in logged), "the server did not log at DEBUG"
    handshake = [r for r in logged if r["logger"] == "aiohttp.access" and '"GET /ws' in r["message"]]
    assert len(handshake) == 1 and handshake[0]["socket"] and handshake[0]["user_id"] and handshake[0]["request_id"], handshake
    sent = [r for r in logged if r["logger"] == "aiohttp.access" and '"POST /api/messages"' in r["message"]]
    assert len(sent) == 1 and sent[0]["user_id"] and "socket" not in sent[0], sent
    for secret in (password, *tokens, *contents):
        assert secret not in output, secret
    # A token's parts (header.payload.signature) are not written one by one either.
    for token in tokens:
        for part in token.split("."):
            if len(part) > 16:
                assert part not in output


async def test_answers_their_handler_prepares_carry_the_request_id(users):
    """The socket's handshake and a file download are sent by their handlers, before the
    request id middleware sees them."""
    alice = await users.make("alice")
    ws = await alice.client.ws_connect("/ws", headers={**alice.auth, "X-Request-ID": "handshake-1"})
    try:
        assert ws._response.status == 101 and ws._response.headers["X-Request-ID"] == "handshake-1"
    finally:
        await ws.close()
    form = aiohttp.FormData()
    form.add_field("file", b"\x00\x01 some bytes", filename="data.bin", content_type="application/octet-stream")
    file = await alice.ok("POST", "/api/files", data=form)
    download = await alice.client.get(file["url"], headers={**alice.auth, "X-Request-ID": "download-1"})
    assert download.status == 200 and download.headers["X-Request-ID"] == "download-1"
