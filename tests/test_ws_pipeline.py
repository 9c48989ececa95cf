"""GET /ws: the handshake and the frame pipeline (issue 3 Parts 1 and 2, PROTOCOL §4, §5).

Every test runs a real aiohttp server on a loopback port, real client sockets and a fresh
MariaDB database. Error-path tests each end by checking that the socket still answers a ping."""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from marshmallow import INCLUDE, Schema

from handlers.base import Context, Handler
from handlers.errors import BadRequest
from handlers.registry import HandlerRegistry, load_entry_points
from server.access_log import RedactingAccessLogger
from server.app import create_app
from tests.chat import Socket, UserFactory

TIMEOUT = 10


@pytest.fixture
def make_client(settings, engine, aiohttp_client):
    """A real server on a loopback port with some settings changed: `await make_client(ws_rate_burst=5)`."""

    async def make(registry: HandlerRegistry | None = None, server_kwargs: dict | None = None, **overrides):
        app = create_app(settings.replace(**overrides), registry=registry)
        if not server_kwargs:
            return await aiohttp_client(app)
        return await aiohttp_client(RunnerOptionsServer(app, **server_kwargs))

    return make


class RunnerOptionsServer(TestServer):
    """A test server whose runner gets these options, as `web.run_app` passes them (the test
    server would drop them, and it cancels handlers when a peer leaves, which run_app does not)."""

    def __init__(self, app, **runner_options) -> None:
        super().__init__(app)
        self._runner_options = runner_options

    async def _make_runner(self, **kwargs):
        kwargs.update(handler_cancellation=False, **self._runner_options)
        return web.AppRunner(self.app, **kwargs)


async def assert_alive(socket: Socket) -> None:
    """The socket still answers: a ping gets its 200 reply."""
    reply = await socket.request("ping")
    assert reply["code"] == 200 and isinstance(reply["data"]["ts"], int), reply


async def send_raw(socket: Socket, text: str) -> dict:
    await socket.ws.send_str(text)
    return await socket.reply(TIMEOUT)


# --- handshake -------------------------------------------------------------------------------


async def test_no_token_is_401_envelope_without_upgrade(client):
    response = await client.get("/ws")
    assert response.status == 401
    body = await response.json()
    assert body["code"] == 401 and body["data"] is None and body["message"]
    # A real upgrade attempt is refused the same way: the handshake fails with 401.
    with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
        await client.ws_connect("/ws")
    assert failure.value.status == 401


@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer eyJhbGciOiJub25lIn0.e30."])
async def test_bad_token_is_401(client, users, header):
    await users.make("alice")  # the database has a user; the token still names none
    with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
        await client.ws_connect("/ws", headers={"Authorization": header})
    assert failure.value.status == 401
    response = await client.get("/ws", headers={"Authorization": header})
    assert response.status == 401 and (await response.json())["code"] == 401


async def test_bad_token_in_query_is_401(client):
    with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
        await client.ws_connect("/ws", params={"token": "forged"})
    assert failure.value.status == 401


async def test_revoked_token_is_401(client, users):
    alice = await users.make("alice")
    await alice.ok("POST", "/api/auth/logout")
    with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
        await client.ws_connect("/ws", headers=alice.auth)
    assert failure.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
        await client.ws_connect("/ws", params={"token": alice.token})
    assert failure.value.status == 401


async def test_expired_token_is_401(client, users, settings):
    from handlers.services.tokens import issue_token

    alice = await users.make("alice")
    expired, _ = issue_token(alice.id, settings.jwt_secret, -10)
    with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
        await client.ws_connect("/ws", headers={"Authorization": f"Bearer {expired}"})
    assert failure.value.status == 401


async def test_token_in_query_string_works(client, users):
    alice = await users.make("alice")
    socket = Socket(await client.ws_connect("/ws", params={"token": alice.token}))
    await assert_alive(socket)
    await socket.close()


async def test_foreign_origin_is_403(client, users):
    alice = await users.make("alice")
    for origin in ("http://evil.example", f"http://127.0.0.1:{client.port + 1 if client.port < 65535 else 1}", "null"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
            await client.ws_connect("/ws", headers={**alice.auth, "Origin": origin})
        assert failure.value.status == 403, origin
        response = await client.get("/ws", headers={**alice.auth, "Origin": origin})
        body = await response.json()
        assert response.status == 403 and body["code"] == 403, origin


@pytest.mark.parametrize("origin", ["http://[bad", "http://127.0.0.1:99999", "://", "not a url", ""])
async def test_malformed_origin_is_403_not_a_fault(client, users, origin):
    alice = await users.make("alice")
    response = await client.get("/ws", headers={**alice.auth, "Origin": origin})
    assert response.status == 403 and (await response.json())["code"] == 403


@pytest.mark.parametrize("host", ["[bad", "127.0.0.1:99999", "@@"])
async def test_malformed_host_with_an_origin_is_403_not_a_fault(client, users, host):
    alice = await users.make("alice")
    response = await client.get("/ws", headers={**alice.auth, "Origin": f"http://127.0.0.1:{client.port}", "Host": host})
    assert response.status == 403 and (await response.json())["code"] == 403


async def test_own_origin_and_no_origin_are_allowed_by_default(client, users, settings):
    assert not settings.allowed_origins
    alice = await users.make("alice")
    own = f"http://{client.host}:{client.port}"
    for headers in ({**alice.auth, "Origin": own}, alice.auth):
        socket = Socket(await client.ws_connect("/ws", headers=headers))
        await assert_alive(socket)
        await socket.close()


async def test_wildcard_allows_any_origin(make_client):
    client = await make_client(allowed_origins=("*",))
    alice = await UserFactory(client).make("alice")
    socket = Socket(await client.ws_connect("/ws", headers={**alice.auth, "Origin": "https://anywhere.example"}))
    await assert_alive(socket)
    await socket.close()


async def test_configured_origins_replace_the_default(make_client):
    client = await make_client(allowed_origins=("https://chat.example",))
    alice = await UserFactory(client).make("alice")
    socket = Socket(await client.ws_connect("/ws", headers={**alice.auth, "Origin": "https://chat.example"}))
    await assert_alive(socket)
    await socket.close()
    for origin in ("https://evil.example", f"http://{client.host}:{client.port}"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as failure:
            await client.ws_connect("/ws", headers={**alice.auth, "Origin": origin})
        assert failure.value.status == 403, origin


async def test_access_log_never_holds_the_token(make_client, caplog):
    client = await make_client(server_kwargs={"access_log_class": RedactingAccessLogger})
    alice = await UserFactory(client).make("alice")
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    socket = Socket(await client.ws_connect("/ws", params={"token": alice.token, "x": "1"}))
    await assert_alive(socket)
    await socket.close()
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.ws_connect("/ws", params={"token": "forged-secret-value"})

    def ws_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "aiohttp.access" and "/ws" in r.getMessage()]

    # The socket's line is written when its handler returns, just after the close.
    for _ in range(100):
        if len(ws_lines()) >= 2:
            break
        await asyncio.sleep(0.05)
    lines = ws_lines()
    assert len(lines) >= 2, lines
    text = "\n".join(lines)
    assert alice.token not in text and "forged-secret-value" not in text
    assert "token=REDACTED" in text and "x=1" in text
    assert " 101 " in text and " 401 " in text


# --- the pipeline's error paths ----------------------------------------------------------------


@pytest.fixture
async def alice_socket(users) -> Socket:
    alice = await users.make("alice")
    return await alice.connect()


async def test_not_json_is_400_with_null_id(alice_socket):
    reply = await send_raw(alice_socket, '{"type": "ping", "id": 7')
    assert (reply["code"], reply["id"]) == (400, None), reply
    assert reply["type"] == "reply" and reply["message"]
    await assert_alive(alice_socket)


@pytest.mark.parametrize("text", ['[{"type": "ping", "id": 1}]', '"ping"', "42", "null"])
async def test_json_that_is_not_an_object_is_400(alice_socket, text):
    reply = await send_raw(alice_socket, text)
    assert (reply["code"], reply["id"]) == (400, None), reply
    await assert_alive(alice_socket)


async def test_binary_frame_is_400(alice_socket):
    await alice_socket.ws.send_bytes(json.dumps({"type": "ping", "id": "b1"}).encode())
    reply = await alice_socket.reply(TIMEOUT)
    assert reply["code"] == 400 and reply["id"] is None, reply
    await assert_alive(alice_socket)


@pytest.mark.parametrize("frame", [{"id": "m1"}, {"id": "m1", "type": None}, {"id": "m1", "type": 5}, {"id": "m1", "type": ["ping"]}])
async def test_missing_or_non_string_type_is_400_with_id_echoed(alice_socket, frame):
    reply = await send_raw(alice_socket, json.dumps(frame))
    assert (reply["code"], reply["id"]) == (400, "m1"), reply
    await assert_alive(alice_socket)


@pytest.mark.parametrize("type_name", ["no_such_type", "PING", "", "reply"])
async def test_unknown_type_is_400_with_id_echoed(alice_socket, type_name):
    reply = await send_raw(alice_socket, json.dumps({"type": type_name, "id": 99, "data": {}}))
    assert (reply["code"], reply["id"]) == (400, 99), reply
    await assert_alive(alice_socket)


@pytest.mark.parametrize("data", [[], "x", 1, None])
async def test_data_that_is_not_an_object_is_400(alice_socket, data):
    reply = await send_raw(alice_socket, json.dumps({"type": "ping", "id": "d1", "data": data}))
    assert (reply["code"], reply["id"]) == (400, "d1"), reply
    await assert_alive(alice_socket)


@pytest.mark.parametrize("frame_id", [[1], {"a": 1}, 1.5, True])
async def test_id_of_a_bad_type_is_400_with_null_id(alice_socket, frame_id):
    reply = await send_raw(alice_socket, json.dumps({"type": "ping", "id": frame_id}))
    assert (reply["code"], reply["id"]) == (400, None), reply
    await assert_alive(alice_socket)


async def test_ids_are_echoed_as_given(alice_socket):
    for frame_id in ("abc", 0, -3, 2**53, "", "ünïcode"):
        reply = await send_raw(alice_socket, json.dumps({"type": "ping", "id": frame_id}))
        assert reply["id"] == frame_id and reply["code"] == 200, reply
    reply = await send_raw(alice_socket, json.dumps({"type": "ping"}))
    assert reply["code"] == 200 and reply["id"] is None


async def test_invalid_fields_are_422_keyed_by_field(alice_socket):
    reply = await send_raw(
        alice_socket, json.dumps({"type": "send_message", "id": "v1", "data": {"receiver_id": "bob", "msg_type": 9, "bogus": 1}})
    )
    assert (reply["code"], reply["id"]) == (422, "v1"), reply
    errors = reply["data"]["errors"]
    assert {"receiver_id", "content", "msg_type", "bogus"} <= set(errors), errors
    assert all(isinstance(reasons, list) and reasons and all(isinstance(r, str) for r in reasons) for reasons in errors.values())
    reply = await send_raw(alice_socket, json.dumps({"type": "history", "id": "v2", "data": {}}))
    assert reply["code"] == 422 and "conversation_id" in reply["data"]["errors"], reply
    await assert_alive(alice_socket)


async def test_data_omitted_defaults_to_empty_object(alice_socket):
    reply = await send_raw(alice_socket, json.dumps({"type": "ping", "id": "p"}))
    assert (reply["code"], reply["id"]) == (200, "p") and isinstance(reply["data"]["ts"], int)
    # For a type with required fields, omitted data is validated like {}: 422, not 400.
    reply = await send_raw(alice_socket, json.dumps({"type": "typing", "id": "t"}))
    assert (reply["code"], reply["id"]) == (422, "t") and "conversation_id" in reply["data"]["errors"], reply


class LooseSchema(Schema):
    class Meta:
        unknown = INCLUDE


class ExplodingHandler(Handler):
    type = "test.explode"

    async def handle(self, ctx: Context, data: dict) -> None:
        raise RuntimeError("SECRET-DETAIL: SELECT password_hash FROM users")


async def test_unexpected_handler_fault_is_500_generic_and_logged(make_client, caplog):
    registry = HandlerRegistry()
    load_entry_points(registry)
    registry.add(ExplodingHandler, origin="tests")
    client = await make_client(registry=registry)
    alice = await UserFactory(client).make("alice")
    socket = await alice.connect()
    caplog.set_level(logging.ERROR)
    await socket.ws.send_str(json.dumps({"type": "test.explode", "id": "boom"}))
    msg = await socket.ws.receive(timeout=TIMEOUT)
    assert msg.type == WSMsgType.TEXT
    assert "SECRET-DETAIL" not in msg.data and "Traceback" not in msg.data and "RuntimeError" not in msg.data
    reply = json.loads(msg.data)
    assert (reply["type"], reply["id"], reply["code"]) == ("reply", "boom", 500)
    assert reply["message"] == "internal server error" and reply["data"] is None
    # The server's log has the traceback, so the fault can be found.
    faults = [r for r in caplog.records if r.exc_info and "SECRET-DETAIL" in str(r.exc_info[1])]
    assert faults, [r.getMessage() for r in caplog.records]
    await assert_alive(socket)
    # And again: the handler keeps failing the same way, the socket keeps living.
    reply = await send_raw(socket, json.dumps({"type": "test.explode", "id": "boom2"}))
    assert (reply["code"], reply["id"]) == (500, "boom2")
    await assert_alive(socket)


class UnserializableHandler(Handler):
    type = "test.unserializable"
    schema = LooseSchema

    async def handle(self, ctx: Context, data: dict) -> dict:
        if data.get("as_error"):
            raise BadRequest("bad", data={"value": {1, 2, 3}})
        return {"value": {1, 2, 3}}  # a set: not JSON


async def test_reply_that_cannot_be_serialized_is_500_and_the_socket_lives(make_client):
    registry = HandlerRegistry()
    load_entry_points(registry)
    registry.add(UnserializableHandler, origin="tests")
    client = await make_client(registry=registry)
    alice = await UserFactory(client).make("alice")
    socket = await alice.connect()
    reply = await send_raw(socket, json.dumps({"type": "test.unserializable", "id": "u"}))
    assert (reply["code"], reply["id"], reply["message"]) == (500, "u", "internal server error"), reply
    await assert_alive(socket)
    reply = await send_raw(socket, json.dumps({"type": "test.unserializable", "id": "e", "data": {"as_error": True}}))
    assert (reply["code"], reply["id"], reply["message"]) == (500, "e", "internal server error"), reply
    await assert_alive(socket)


# --- ordering -----------------------------------------------------------------------------------


async def test_burst_of_mixed_frames_gets_one_reply_each_in_order(make_client):
    client = await make_client(ws_rate_per_second=1000, ws_rate_burst=1000)
    factory = UserFactory(client)
    alice, bob = await factory.make("alice"), await factory.make("bob")
    a, b = await alice.connect(), await bob.connect()
    first = await a.request("send_message", {"receiver_id": bob.id, "content": "setup"})
    conversation_id = first["data"]["conversation_id"]

    expected: list[tuple[object, int]] = []
    frames: list[str] = []
    for i in range(50):
        kind = i % 5
        if kind == 0:
            frames.append(json.dumps({"type": "ping", "id": i}))
            expected.append((i, 200))
        elif kind == 1:
            frames.append(json.dumps({"type": "history", "id": f"h{i}", "data": {"conversation_id": conversation_id, "limit": 5}}))
            expected.append((f"h{i}", 200))
        elif kind == 2:
            frames.append(json.dumps({"type": "send_message", "id": f"s{i}", "data": {"receiver_id": bob.id, "content": f"m{i}"}}))
            expected.append((f"s{i}", 201))
        elif kind == 3:
            frames.append(json.dumps({"type": "nope", "id": f"u{i}"}))
            expected.append((f"u{i}", 400))
        else:
            frames.append('{"type": "ping", "id": ')
            expected.append((None, 400))
    for text in frames:  # all sent before any reply is read
        await a.ws.send_str(text)

    replies = [await a.reply(TIMEOUT) for _ in range(50)]
    assert [(r["id"], r["code"]) for r in replies] == expected
    # Exactly 50: nothing more comes.
    with pytest.raises(asyncio.TimeoutError):
        await a.reply(0.5)
    # Sends were stored in the order they arrived.
    seqs = [r["data"]["seq"] for r in replies if r["code"] == 201]
    assert seqs == list(range(2, 12))
    pushed = [(await b.event("message.new", TIMEOUT))["data"]["seq"] for _ in range(11)]
    assert pushed == list(range(1, 12))


# --- rate limit ---------------------------------------------------------------------------------


async def test_rate_limit_429_echoes_id_and_the_socket_recovers(make_client):
    client = await make_client(ws_rate_per_second=5, ws_rate_burst=5)
    alice = await UserFactory(client).make("alice")
    socket = await alice.connect()
    for i in range(12):
        await socket.send("ping", frame_id=f"r{i}")
    replies = [await socket.reply(TIMEOUT) for _ in range(12)]
    assert [r["id"] for r in replies] == [f"r{i}" for i in range(12)]
    limited = [r for r in replies if r["code"] == 429]
    assert limited, replies
    assert [r["code"] for r in replies[:5]] == [200] * 5  # the burst is honoured
    for reply in limited:
        assert isinstance(reply["data"]["retry_after_ms"], int) and reply["data"]["retry_after_ms"] > 0, reply
        assert reply["message"]
    # The socket is still open; after the advised wait a frame goes through.
    await asyncio.sleep(limited[-1]["data"]["retry_after_ms"] / 1000)
    reply = await socket.request("ping")
    assert reply["code"] == 200, reply


async def test_invalid_frames_count_against_the_rate_limit(make_client):
    """The limit is on frames: a client flooding garbage is held to it like any other."""
    client = await make_client(ws_rate_per_second=0.5, ws_rate_burst=5)
    alice = await UserFactory(client).make("alice")
    socket = await alice.connect()
    for _ in range(5):
        await socket.ws.send_str("not json")
    replies = [await socket.reply(TIMEOUT) for _ in range(5)]
    assert all(r["code"] == 400 for r in replies), replies
    await socket.send("ping", frame_id="after-garbage")
    reply = await socket.reply(TIMEOUT)
    assert (reply["code"], reply["id"]) == (429, "after-garbage"), reply
    await socket.ws.send_bytes(b"\x00")
    reply = await socket.reply(TIMEOUT)
    assert reply["code"] == 429, reply


# --- frame size ---------------------------------------------------------------------------------


def frame_of_size(size: int, frame_id: str = "big") -> str:
    head = json.dumps({"type": "ping", "id": frame_id, "data": {"pad": ""}})
    text = head.replace('"pad": ""', '"pad": "' + "x" * (size - len(head)) + '"')
    assert len(text.encode()) == size
    return text


async def test_frame_of_exactly_the_limit_is_accepted(make_client):
    client = await make_client(ws_max_frame_bytes=1024)
    alice = await UserFactory(client).make("alice")
    socket = await alice.connect()
    await socket.ws.send_str(frame_of_size(1024))
    reply = await socket.reply(TIMEOUT)
    assert (reply["code"], reply["id"]) == (200, "big"), reply
    await assert_alive(socket)


async def test_frame_over_the_limit_closes_1009(make_client):
    client = await make_client(ws_max_frame_bytes=1024)
    alice = await UserFactory(client).make("alice")
    socket = await alice.connect()
    await assert_alive(socket)
    await socket.ws.send_str(frame_of_size(1025))
    msg = await socket.ws.receive(timeout=TIMEOUT)
    assert msg.type == WSMsgType.CLOSE, msg
    assert msg.data == 1009 and socket.ws.close_code == 1009


async def test_default_limit_is_65536_bytes(client, users):
    alice = await users.make("alice")
    socket = await alice.connect()
    await socket.ws.send_str(frame_of_size(65536))
    reply = await socket.reply(TIMEOUT)
    assert (reply["code"], reply["id"]) == (200, "big"), reply
    await socket.ws.send_str(frame_of_size(65537))
    msg = await socket.ws.receive(timeout=TIMEOUT)
    assert msg.type == WSMsgType.CLOSE and msg.data == 1009, msg
