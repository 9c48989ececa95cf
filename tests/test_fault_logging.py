"""What the server logs as a fault: its own unexpected exceptions, with their traceback, and
not what clients do to it. A client that hangs up in the middle of a request body, or sends
something that is not HTTP, is routine on the internet; logged as errors with tracebacks, those
hide the real faults (issue #11)."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from server.access_log import RedactingAccessLogger, quiet_malformed_requests
from server.app import create_app
from tests.chat import UserFactory
from tests.processes import call, serve_without_settings


def faults(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Records that say "fault": ERROR or worse, or carrying a traceback."""
    return [f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


@pytest.fixture
def server_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.fixture
async def faulty_client(aiohttp_client, settings, engine):
    """The app with two routes of the test's own that fail as a bug of the server would."""
    app = create_app(settings)

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    async def lost_upstream(request: web.Request) -> web.Response:
        # A reset connection to something else the server talks to, while the client waits.
        raise ConnectionResetError("an upstream connection was reset")

    app.router.add_get("/test/boom", boom)
    app.router.add_get("/test/lost-upstream", lost_upstream)
    return await aiohttp_client(app)


@pytest.fixture
async def served(app) -> AsyncIterator[tuple[str, int]]:
    """The app served as `hubbub serve` does (web.run_app): unlike aiohttp's test server, which
    cancels a handler whose client went away, it lets the handler run into the hang-up."""
    runner = web.AppRunner(app, access_log_class=RedactingAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield runner.addresses[0][:2]
    await runner.cleanup()


async def send_raw(address: tuple[str, int], data: bytes, *, reset: bool = False, read_answer: bool = False) -> bytes:
    """Sends bytes on a connection of its own and hangs up (with a reset if asked), after
    reading the answer if asked."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5) if read_answer else b""
    if reset:
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    # The server sees the hang-up on its next turn of the loop; give it a few.
    await asyncio.sleep(0.3)
    return answer


PARTIAL_LOGIN = (
    b"POST /api/auth/login HTTP/1.1\r\nHost: hubbub\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    b'{"username": "alice", "pass'
)


PARTIAL_CHUNKED_LOGIN = (
    b"POST /api/auth/login HTTP/1.1\r\nHost: hubbub\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'10\r\n{"username": "al'
)


@pytest.mark.parametrize("body", [PARTIAL_LOGIN, PARTIAL_CHUNKED_LOGIN], ids=["content-length", "chunked"])
@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_client_hanging_up_in_the_middle_of_a_login_body_is_no_fault(served, server_logs, body, reset):
    await send_raw(served, body, reset=reset)
    assert faults(server_logs) == []
    assert b" 200 OK\r\n" in await send_raw(served, b"GET /healthz HTTP/1.1\r\nHost: hubbub\r\nConnection: close\r\n\r\n", read_answer=True)


async def test_a_body_that_breaks_its_chunked_encoding_is_a_400_and_no_fault(served, server_logs, quiet_aiohttp_server_log):
    answer = await send_raw(
        served,
        b"POST /api/auth/login HTTP/1.1\r\nHost: hubbub\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\n{}\r\n0\r\n\r\n",
        read_answer=True,
    )
    assert b" 400 Bad Request\r\n" in answer, answer
    assert faults(server_logs) == []


async def test_a_client_that_stops_reading_a_download_is_no_fault(served, server_logs):
    async with aiohttp.ClientSession(f"http://{served[0]}:{served[1]}") as session:
        alice = await UserFactory(session).make("alice")
        body = aiohttp.FormData()
        body.add_field("file", b"\x00" * (8 * 1024 * 1024), filename="big.bin")
        file = await alice.ok("POST", "/api/files", data=body)
    request = f"GET {file['url']} HTTP/1.1\r\nHost: hubbub\r\nAuthorization: Bearer {alice.token}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection(*served, limit=1024)
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    writer.write(request)
    assert b" 200 " in await reader.readline()
    writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()
    await asyncio.sleep(0.5)
    assert faults(server_logs) == []


@pytest.fixture
def quiet_aiohttp_server_log():
    """What `hubbub serve` sets up (server.cli) for aiohttp's server log, undone afterwards."""
    logger = logging.getLogger("aiohttp.server")
    before = list(logger.filters)
    quiet_malformed_requests()
    yield
    logger.filters[:] = before


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="not a request line"),
        pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, id="tls on the http port"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: hubbub\r\nno colon here\r\n\r\n", id="garbage header"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: hubbub\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n", id="header over 8190 bytes"),
        pytest.param(b"GET /healthz HTTP/1.1\r\nHost: hubbub\r\n\r\nGET /?token=secret HTTP/9.9\r\n\r\n", id="second request malformed"),
    ],
)
async def test_a_malformed_request_is_one_line_at_info_not_a_traceback(served, server_logs, quiet_aiohttp_server_log, request_bytes):
    answer = await send_raw(served, request_bytes, read_answer=True)
    assert b" 400 Bad Request\r\n" in answer, answer
    assert faults(server_logs) == []
    said = [r for r in server_logs.records if r.name == "aiohttp.server"]
    assert len(said) == 1 and said[0].levelno <= logging.INFO and "\n" not in said[0].getMessage(), [r.getMessage() for r in said]
    assert "secret" not in said[0].getMessage()


async def test_a_malformed_request_is_not_logged_below_the_configured_level(served, caplog, quiet_aiohttp_server_log):
    caplog.set_level(logging.WARNING)
    await send_raw(served, b"GET / HTTP/1.1\r\nHost: hubbub\r\nno colon here\r\n\r\n", read_answer=True)
    assert [r for r in caplog.records if r.name == "aiohttp.server"] == []


async def test_a_fault_of_the_servers_own_is_still_logged_with_its_traceback(faulty_client, server_logs, quiet_aiohttp_server_log):
    for path in ("/test/boom", "/test/lost-upstream"):
        server_logs.clear()
        response = await faulty_client.get(path)
        assert response.status == 500
        logged = [r for r in server_logs.records if r.levelno >= logging.ERROR and r.exc_info]
        assert len(logged) == 1 and path in logged[0].getMessage(), faults(server_logs)


def test_hubbub_serve_logs_a_malformed_request_in_one_line(tmp_path: Path):
    """The wiring: `hubbub serve` itself (uvloop, its own logging setup) says no more."""
    server, port = serve_without_settings(tmp_path, HUBBUB_LOG_LEVEL="INFO")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: hubbub\r\nno colon here\r\n\r\n")
            assert b" 400 Bad Request\r\n" in raw.recv(65536)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            raw.sendall(PARTIAL_LOGIN)
        assert call(port, "GET", "/healthz")[0] == 200
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
    output = server.stdout.read().decode()
    assert "Traceback" not in output and " ERROR " not in output, output
    refused = [line for line in output.splitlines() if "aiohttp.server" in line]
    assert len(refused) == 1 and " INFO " in refused[0] and "malformed request" in refused[0], output
