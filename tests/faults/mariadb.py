"""A private MariaDB for the fault suite: its own data directory, port and unix socket, started
and stopped by its PID, so a scenario can stop, kill and restart it (or shorten its
`wait_timeout`) without touching the shared server the rest of the tests use."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pymysql

MARIADBD = "/usr/sbin/mariadbd"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def available() -> str | None:
    """Why a private MariaDB cannot be run here, or None when it can."""
    if not os.access(MARIADBD, os.X_OK):
        return f"no {MARIADBD} (Debian's mariadb-server)"
    if shutil.which("mariadb-install-db") is None:
        return "no mariadb-install-db (Debian's mariadb-server)"
    return None


class PrivateMariaDB:
    """One mariadbd on 127.0.0.1:`port` keeping its files under `base`; root without a password."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.datadir = base / "data"
        self.socket_path = base / "mariadb.sock"
        self.log_path = base / "mariadb.log"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def server_url(self) -> str:
        return f"mysql+aiomysql://root@127.0.0.1:{self.port}/"

    def database_url(self, name: str) -> str:
        return f"{self.server_url}{name}"

    def install(self) -> None:
        # --no-defaults: the machine's my.cnf (user=mysql, a shared log file) must not apply here.
        with open(self.base / "install.log", "wb") as log:
            subprocess.run(
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={self.datadir}",
                    "--user=root",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=120,
            )

    def start(self) -> None:
        """Start on the existing data directory (again after a stop or kill) and wait until it answers."""
        if self.running():
            return
        self.proc = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                f"--datadir={self.datadir}",
                "--user=root",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.socket_path}",
                f"--pid-file={self.base / 'mariadb.pid'}",
                f"--log-error={self.log_path}",
                "--skip-log-bin",
                # Small and quick to start and recover: the scenarios hold little data.
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=32M",
                "--max-connections=500",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self.proc.returncode} while starting:\n{self.log_tail()}")
            try:
                self.sql("SELECT 1")
                return
            except pymysql.err.MySQLError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"mariadbd did not answer within {START_TIMEOUT}s:\n{self.log_tail()}") from None
                time.sleep(0.05)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), SIGKILL if it hangs."""
        self._signal_and_wait(signal.SIGTERM, STOP_TIMEOUT)

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown at all."""
        self._signal_and_wait(signal.SIGKILL, STOP_TIMEOUT)

    def freeze(self) -> None:
        """SIGSTOP: the server stops answering but keeps every connection open (its kernel
        even accepts new ones), as a server stuck on a disk or behind a black hole would."""
        if self.running():
            self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: it carries on where it stopped."""
        if self.running():
            self.proc.send_signal(signal.SIGCONT)

    def _signal_and_wait(self, signum: int, timeout: float) -> None:
        if not self.running():
            return
        self.thaw()  # a frozen server would not act on the signal
        self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def sql(self, statement: str, database: str | None = None) -> list[tuple]:
        """One statement as root over TCP; its rows."""
        conn = pymysql.connect(
            host="127.0.0.1", port=self.port, user="root", password="", database=database, connect_timeout=2, autocommit=True
        )
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return list(cur.fetchall())
        finally:
            conn.close()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
