"""`hubbub migrate` and `hubbub serve` as real processes, each stopped by its own PID: SIGTERM
for a graceful shutdown, SIGKILL for a crash. A server can be started again on the same port
(a restart the clients find at the URL they know)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.faults.mariadb import free_port

REPO = Path(__file__).resolve().parents[2]
JWT_SECRET = "fault-suite-secret-not-for-production-0123456789"
START_TIMEOUT = 30.0
# Load comes from a few sockets sending as fast as they are answered; the per-socket frame
# limit (PROTOCOL §5) would only slow the scenarios down.
NO_RATE_LIMIT = {"HUBBUB_WS_RATE_PER_SECOND": "1000000", "HUBBUB_WS_RATE_BURST": "1000000"}
STOP_TIMEOUT = 15.0


def hubbub_command(*args: str) -> list[str]:
    # The CLI module run from the checkout (cwd=REPO comes first on sys.path), not the console
    # script: the suite tests the code beside it, whichever copy happens to be installed.
    return [sys.executable, "-m", "server.cli", *args]


def hubbub_env(database_url: str, workdir: Path, overrides: dict[str, str]) -> dict[str, str]:
    env = {
        **os.environ,
        "HUBBUB_ENV": "testing",
        "HUBBUB_DATABASE_URL": database_url,
        "HUBBUB_UPLOAD_DIR": str(workdir / "uploads"),
        "HUBBUB_JWT_SECRET": JWT_SECRET,
        "HUBBUB_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides)
    return env


def migrate(database_url: str, workdir: Path) -> None:
    with open(workdir / "migrate.log", "ab") as log:
        done = subprocess.run(
            hubbub_command("migrate"), env=hubbub_env(database_url, workdir, {}), cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=120
        )
    if done.returncode != 0:
        raise RuntimeError(f"hubbub migrate failed ({done.returncode}):\n{(workdir / 'migrate.log').read_text(errors='replace')[-3000:]}")


class HubbubServer:
    """One `hubbub serve` on 127.0.0.1:`port`; `overrides` are extra HUBBUB_<KEY> settings."""

    def __init__(self, name: str, database_url: str, workdir: Path, overrides: dict[str, str] | None = None) -> None:
        self.name = name
        self.database_url = database_url
        self.workdir = workdir
        self.overrides = dict(overrides or {})
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start (again) and wait until /healthz answers 200."""
        if self.running():
            return
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                hubbub_command("serve", "--host", "127.0.0.1", "--port", str(self.port)),
                env=hubbub_env(self.database_url, self.workdir, self.overrides),
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} while starting:\n{self.log_tail()}")
            if self.health() == 200:
                return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.name} did not answer /healthz within {START_TIMEOUT}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def health(self) -> int | None:
        """The status /healthz answers now, None when nothing answers."""
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate(self) -> None:
        """SIGTERM: the graceful shutdown of PROTOCOL §4 (close 1001)."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """The exit status, or None if it is still running after `timeout`."""
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL: a crash, nothing is finished or flushed."""
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL when the shutdown hangs."""
        self.terminate()
        if self.running() and self.wait() is None:
            self.kill()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""
