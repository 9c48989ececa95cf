"""Helpers for tests that run `hubbub serve` as a real process."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hubbub_command() -> list[str]:
    script = shutil.which("hubbub")
    return [script] if script else [sys.executable, "-m", "server.cli"]


def call(port: int, method: str, path: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    """One REST call to a server on a loopback port: (status, the JSON answer)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def serve_without_settings(cwd: Path, **settings: str) -> tuple[subprocess.Popen, int]:
    """`hubbub serve` as a fresh install runs it in `cwd`: no HUBBUB_ variable but `settings`
    (HUBBUB_<KEY> values), bcrypt at its cheapest, on a free port; returned with the port once
    /healthz answers. Its output is piped, for the test to read."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("HUBBUB_")}
    env.update(HUBBUB_PORT=str(port), HUBBUB_BCRYPT_ROUNDS="4", **settings)
    server = subprocess.Popen([sys.executable, "-m", "server.cli", "serve"], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while True:
        try:
            if call(port, "GET", "/healthz")[0] == 200:
                return server, port
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise AssertionError(server.stdout.read().decode())
        time.sleep(0.2)
