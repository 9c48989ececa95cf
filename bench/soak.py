"""A churn soak: do the server's RSS, open fds, threads and asyncio tasks come back to where
they were once the churn stops? Not run in CI (it takes minutes); the fault suite
(tests/faults/) is the bounded part of issue #11.

    python -m bench.soak [--minutes 5] [--workers 40] [--users 20] [--sample-seconds 5]
                         [--rss-slack-mb 40] [--fd-slack 10] [--task-slack 10] [--json soak.json]

It starts its own `hubbub serve` on a fresh database of the test MariaDB (HUBBUB_BENCH_MYSQL_URL
or HUBBUB_TEST_MYSQL_URL, as bench/servers.py; `bash tests/run.sh --co -q` makes sure one
answers), through this module's `serve` mode: the CLI as usual, plus a SIGUSR1 handler that
writes the event loop's task count to a file, since the server has no way to tell it.

Then it registers users, warms up with one round of churn, waits for the server to go idle
and samples the baseline. For `--minutes`, `--workers` clients each loop: connect a socket,
send a few messages into a shared group or a direct conversation, read a page of history,
and leave: most close cleanly, some drop the TCP connection without a close frame, and some
stop reading first so that the server's queue for them fills and it closes them. Every
`--sample-seconds` it prints RSS, fds, threads, tasks and the sockets open on the client side.
After the churn it waits for the server to settle and compares with the baseline; the exit
status is 1 when something did not come back within the slack."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from bench import metrics
from bench.servers import MYSQL_SERVER_URL, free_port, hubbub_env, migrate, mysql_database, start_process

PROBE_ENV = "HUBBUB_SOAK_TASKS_FILE"
PASSWORD = "soak password"
SETTLE_SECONDS = 30.0


@dataclass
class Sample:
    at: float
    rss_mib: float
    fds: int
    threads: int
    tasks: int
    client_sockets: int


def serve_with_probe(argv: list[str]) -> int:
    """`hubbub serve` with a SIGUSR1 handler that writes the running loop's task count."""
    from server.cli import main

    def write_task_count(_signum, _frame) -> None:
        loop = asyncio._get_running_loop()  # the handler runs on the loop's thread, between its callbacks
        count = len(asyncio.all_tasks(loop)) if loop is not None else -1
        Path(os.environ[PROBE_ENV]).write_text(str(count))

    signal.signal(signal.SIGUSR1, write_task_count)
    return main(["serve", *argv])


def threads(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


async def task_count(pid: int, probe: Path) -> int:
    probe.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    for _ in range(100):
        await asyncio.sleep(0.02)
        if probe.exists() and probe.read_text():
            return int(probe.read_text())
    return -1


class Soak:
    def __init__(self, args: argparse.Namespace, url: str, pid: int, probe: Path) -> None:
        self.args = args
        self.url = url
        self.pid = pid
        self.probe = probe
        self.open_sockets = 0
        self.sent = 0
        self.errors: list[str] = []
        self.users: list[tuple[int, str]] = []  # (id, token)
        self.group = 0

    async def sample(self) -> Sample:
        return Sample(
            round(time.monotonic(), 1),
            round(metrics.rss_kib(self.pid) / 1024, 1),
            metrics.open_fds(self.pid),
            threads(self.pid),
            await task_count(self.pid, self.probe),
            self.open_sockets,
        )

    async def setup(self, session: aiohttp.ClientSession) -> None:
        tag = os.urandom(3).hex()
        for n in range(self.args.users):
            name = f"soak{tag}_{n}"
            await self._ok(session, "POST", "/api/auth/register", json={"username": name, "email": f"{name}@example.com", "password": PASSWORD})
            login = await self._ok(session, "POST", "/api/auth/login", json={"username": name, "password": PASSWORD})
            self.users.append((login["user"]["id"], login["token"]))
        owner_token = self.users[0][1]
        group = await self._ok(session, "POST", "/api/conversations", owner_token, json={"type": "group", "name": "soak", "member_ids": [u for u, _ in self.users[1:]]})
        self.group = group["id"]

    async def _ok(self, session: aiohttp.ClientSession, method: str, path: str, token: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with session.request(method, self.url + path, headers=headers, **kwargs) as response:
            body = await response.json()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path}: {response.status} {body}")
            return body["data"]

    async def churn(self, session: aiohttp.ClientSession, seconds: float, rng: random.Random) -> None:
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(self._worker(session, deadline, random.Random(rng.random())) for _ in range(self.args.workers)))

    async def _worker(self, session: aiohttp.ClientSession, deadline: float, rng: random.Random) -> None:
        while time.monotonic() < deadline:
            try:
                await self._visit(session, rng)
            except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as exc:
                self.errors.append(repr(exc))
            await asyncio.sleep(rng.uniform(0, 0.2))

    async def _visit(self, session: aiohttp.ClientSession, rng: random.Random) -> None:
        """One socket's life: a few sends and a history page, then one of three ways out."""
        me, token = rng.choice(self.users)
        peer = rng.choice([u for u, _ in self.users if u != me])
        ws = await session.ws_connect(f"{self.url}/ws", headers={"Authorization": f"Bearer {token}"}, max_msg_size=0)
        self.open_sockets += 1
        try:
            for n in range(rng.randint(1, 5)):
                target = {"conversation_id": self.group} if rng.random() < 0.5 else {"receiver_id": peer}
                await ws.send_json({"type": "send_message", "id": n, "data": {**target, "content": f"soak {n}"}})
            await ws.send_json({"type": "history", "id": "h", "data": {"conversation_id": self.group, "limit": 20}})
            ending = rng.random()
            if ending < 0.1:
                # Stops reading for a while: its replies and pushes back up in the server, which
                # may close it for a full queue, then it goes without a close frame.
                await asyncio.sleep(rng.uniform(1, 5))
                ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
                return
            replies = 0
            while True:
                msg = await ws.receive(timeout=10)
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                if json.loads(msg.data).get("type") == "reply":
                    replies += 1
                    if replies == n + 2:
                        break
            self.sent += n + 1
            if ending < 0.3:
                ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)  # gone without a close frame
                return
            await ws.close()
        finally:
            self.open_sockets -= 1
            if not ws.closed:
                await ws.close()

    async def settle(self, baseline: Sample) -> Sample:
        """Samples until fds and tasks are back at the baseline, or SETTLE_SECONDS pass."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            now = await self.sample()
            if (now.fds <= baseline.fds and now.tasks <= baseline.tasks) or time.monotonic() > deadline:
                return now
            await asyncio.sleep(1)


async def soak(args: argparse.Namespace, url: str, pid: int, probe: Path) -> int:
    rng = random.Random(args.seed)
    runner = Soak(args, url, pid, probe)
    samples: list[Sample] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await runner.setup(session)
        await runner.churn(session, 10, rng)  # warm-up: pools, caches and lazily made state
        await asyncio.sleep(3)
        baseline = await runner.settle(await runner.sample())
        print(f"baseline: {baseline}")
        sampler_stop = asyncio.Event()

        async def sampler() -> None:
            while not sampler_stop.is_set():
                samples.append(await runner.sample())
                print(f"  {samples[-1]}  sent {runner.sent}  client errors {len(runner.errors)}", flush=True)
                try:
                    await asyncio.wait_for(sampler_stop.wait(), args.sample_seconds)
                except TimeoutError:
                    pass

        sampling = asyncio.create_task(sampler())
        await runner.churn(session, args.minutes * 60, rng)
        sampler_stop.set()
        await sampling
    final = await runner.settle(baseline)
    peak = max(samples, key=lambda s: s.rss_mib, default=final)
    verdict = {
        "rss": final.rss_mib <= baseline.rss_mib + args.rss_slack_mb,
        "fds": final.fds <= baseline.fds + args.fd_slack,
        "tasks": final.tasks <= baseline.tasks + args.task_slack,
        "threads": final.threads <= baseline.threads,
    }
    print(f"after:    {final}\npeak RSS: {peak.rss_mib} MiB; messages sent {runner.sent}; client errors {len(runner.errors)}")
    print("back to baseline: " + ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in verdict.items()))
    if args.json:
        Path(args.json).write_text(json.dumps({"baseline": asdict(baseline), "final": asdict(final), "samples": [asdict(s) for s in samples], "verdict": verdict, "sent": runner.sent, "client_errors": runner.errors[:50]}, indent=1))
    return 0 if all(verdict.values()) else 1


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--workers", type=int, default=40, help="clients connecting, sending and leaving at once")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--sample-seconds", type=float, default=5)
    parser.add_argument("--rss-slack-mb", type=float, default=40, help="RSS may stay this much above the baseline (the allocator keeps some)")
    parser.add_argument("--fd-slack", type=int, default=10)
    parser.add_argument("--task-slack", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the samples and the verdict here")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        return serve_with_probe(argv[1:])
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="hubbub-soak-") as workdir, mysql_database("hubbub_soak") as database_url:
        work = Path(workdir)
        print(f"schema: {migrate(database_url, work / 'migrate.log')} on {MYSQL_SERVER_URL}")
        port = free_port()
        probe = work / "tasks"
        # The queue limit low, so that the sockets that stop reading are closed within the soak.
        env = hubbub_env(database_url, work / "uploads", HUBBUB_WS_SEND_QUEUE_MAX="100", **{PROBE_ENV: str(probe)})
        argv_serve = [sys.executable, "-m", "bench.soak", "serve", "--host", "127.0.0.1", "--port", str(port)]
        server = start_process("hubbub", argv_serve, env, port, work / "hubbub.log")
        try:
            return asyncio.run(soak(args, server.base_url, server.pid, probe))
        finally:
            server.stop()
            print(f"server log tail:\n{server.log_tail(10)}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
