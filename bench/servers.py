"""Starting and stopping what is measured: a database per run, and server processes.

Every server runs as its own process, started here and stopped here by its pid, so that
/proc readings (CPU, RSS) are of that server alone and a failed run leaves nothing behind.
Databases get a unique name per run and are dropped when the run ends, whatever happened."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
# The server the tests also use (tests/run.sh makes sure it answers); a database is created
# on it per benchmark run. The bench URL wins, then the tests' one.
MYSQL_SERVER_URL = os.environ.get(
    "HUBBUB_BENCH_MYSQL_URL", os.environ.get("HUBBUB_TEST_MYSQL_URL", "mysql+aiomysql://hubbub:hubbub@127.0.0.1:3306/")
)
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def mysql_connect(url: str, database: str | None = None):
    import pymysql

    u = make_url(url)
    return pymysql.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 3306,
        user=u.username or "root",
        password=u.password or "",
        database=database,
        connect_timeout=5,
        autocommit=True,
    )


@contextlib.contextmanager
def mysql_database(prefix: str = "hubbub_bench") -> Iterator[str]:
    """A fresh, empty database on MYSQL_SERVER_URL; yields its URL, drops it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = mysql_connect(MYSQL_SERVER_URL)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        conn.close()
    try:
        yield make_url(MYSQL_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        conn = mysql_connect(MYSQL_SERVER_URL)
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            conn.close()


def migrate(database_url: str, log_path: Path) -> str:
    """Hubbub's schema in the database: `hubbub migrate` (what production does); when that
    does not work yet, the tables straight from `storage.tables.metadata`. Returns which."""
    env = {**os.environ, "HUBBUB_ENV": "testing", "HUBBUB_DATABASE_URL": database_url, "HUBBUB_LOG_LEVEL": "WARNING"}
    with open(log_path, "ab") as log:
        done = subprocess.run(hubbub_command("migrate"), env=env, cwd=REPO, stdout=log, stderr=log, timeout=120)
    if done.returncode == 0:
        return "hubbub migrate"

    from storage.engine import create_engine
    from storage.tables import metadata

    async def create_all() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
        finally:
            await engine.dispose()

    asyncio.run(create_all())
    return "metadata.create_all (hubbub migrate failed, see the log)"


def hubbub_command(*args: str) -> list[str]:
    # The console script when installed, else the same entry point through the interpreter.
    script = shutil.which("hubbub")
    return [script, *args] if script else [sys.executable, "-m", "server.cli", *args]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def raise_nofile_limit() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (the idle-socket scenario needs ~19,000 fds)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@dataclass
class ServerProcess:
    name: str
    port: int
    proc: subprocess.Popen
    log_path: Path
    info: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGINT (aiohttp's graceful shutdown), then SIGKILL to this pid if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def start_process(name: str, argv: list[str], env: dict, port: int, log_path: Path, health_path: str = "/healthz") -> ServerProcess:
    """Start a server and wait until `health_path` answers 200. The child's fd limit is
    raised before exec (preexec_fn), so no wrapper script is needed for 19,000 sockets."""
    log = open(log_path, "ab")
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, preexec_fn=raise_nofile_limit)
    log.close()
    server = ServerProcess(name, port, proc, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode} while starting:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}{health_path}", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} did not answer {health_path} within {STARTUP_TIMEOUT}s:\n{server.log_tail()}")
        time.sleep(0.1)


# Settings the benchmark gives Hubbub: the per-socket rate limit lifted (throughput comes from
# many sockets sending as fast as the server answers), groups big enough for the fan-out
# scenario, a known JWT secret (setup mints tokens for thousands of users), quiet logs.
BENCH_JWT_SECRET = "bench-secret-not-for-production-0123456789"


def hubbub_env(database_url: str, upload_dir: Path, **overrides: str) -> dict:
    env = {
        **os.environ,
        "HUBBUB_ENV": "testing",
        "HUBBUB_DATABASE_URL": database_url,
        "HUBBUB_UPLOAD_DIR": str(upload_dir),
        "HUBBUB_JWT_SECRET": BENCH_JWT_SECRET,
        "HUBBUB_LOG_LEVEL": "WARNING",
        "HUBBUB_WS_RATE_PER_SECOND": "1000000",
        "HUBBUB_WS_RATE_BURST": "1000000",
        "HUBBUB_GROUP_MAX_MEMBERS": "1000",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides)
    return env


def start_hubbub(database_url: str, workdir: Path, **env_overrides: str) -> ServerProcess:
    port = free_port()
    argv = hubbub_command("serve", "--host", "127.0.0.1", "--port", str(port))
    server = start_process("hubbub", argv, hubbub_env(database_url, workdir / "uploads", **env_overrides), port, workdir / "hubbub.log")
    server.info["command"] = " ".join(["hubbub", "serve", "--host", "127.0.0.1", "--port", str(port)])
    return server


PEER_MODULES = {
    "aiohttp-relay": ("bench.peers.aiohttp_relay", []),
    "aiohttp-batched": ("bench.peers.aiohttp_relay", ["--mysql"]),
    "socketio-relay": ("bench.peers.socketio_relay", []),
}


def start_peer(kind: str, workdir: Path, database_url: str | None = None) -> ServerProcess:
    module, extra = PEER_MODULES[kind]
    port = free_port()
    argv = [sys.executable, "-m", module, "--port", str(port)]
    if extra == ["--mysql"]:
        if database_url is None:
            raise ValueError(f"{kind} needs a database")
        argv += ["--mysql", database_url]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = start_process(kind, argv, env, port, workdir / f"{kind}.log")
    server.info["command"] = " ".join(["python", "-m", module, "--port", str(port), *(["--mysql", "URL"] if extra else [])])
    return server
