"""`hubbub serve` on a fresh install with no settings at all: SQLite, migrated by itself."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def call(port: int, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_with_no_settings_uses_a_migrated_sqlite_file(tmp_path: Path):
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUBBUB_")}
    env.update(HUBBUB_PORT=str(port), HUBBUB_BCRYPT_ROUNDS="4")
    server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if call(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, server.stdout.read().decode() if server.poll() is not None else "no answer"
            time.sleep(0.2)
        status, body = call(port, "POST", "/api/auth/register", {"username": "alice", "email": "a@example.com", "password": "secret1"})
        assert status == 201, body
        status, body = call(port, "POST", "/api/auth/login", {"username": "alice", "password": "secret1"})
        assert status == 200, body
        status, body = call(port, "GET", "/api/users/me", token=body["data"]["token"])
        assert status == 200 and body["data"]["username"] == "alice"
        assert (tmp_path / "hubbub.db").exists()
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
