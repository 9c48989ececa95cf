"""Helpers for tests that run `hubbub serve` as a real process."""

from __future__ import annotations

import shutil
import socket
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hubbub_command() -> list[str]:
    script = shutil.which("hubbub")
    return [script] if script else [sys.executable, "-m", "server.cli"]
