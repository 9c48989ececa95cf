"""`hubbub serve` on a fresh install with no settings at all: SQLite, migrated by itself."""

import signal
from pathlib import Path

from tests.processes import call, serve_without_settings


def test_serve_with_no_settings_uses_a_migrated_sqlite_file(tmp_path: Path):
    server, port = serve_without_settings(tmp_path)
    try:
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
