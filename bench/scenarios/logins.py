"""Scenario (d): event-loop lag while 50 logins run at once.

A probe socket sends `ping` every 10 ms and records each reply's round trip. After a quiet
baseline, L logins are fired together through POST /api/auth/login; the round trips while
they run, minus the quiet ones, are how long the server's event loop was kept from answering.
bcrypt runs at the production cost (12) here, not the testing one, because its cost is the
point: the server must hash off the event loop.

    python -m bench.scenarios.logins --logins 50 --bcrypt-rounds 12
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from bench import metrics
from bench.load import NS, Plan, SocketSpec
from bench.scenarios.common import base_parser, command_of, emit, log, measure, sleep_until
from bench.targets import HUBBUB, PASSWORD, launch

MODULE = "bench.scenarios.logins"
MAX_SECONDS = 120.0  # the probe stops by itself after this even if the logins hang


async def _login_all(base_url: str, usernames: list[str]) -> list[dict]:
    """All logins at once, each from its own loopback address (127.0.0.2, .3, ...), as 50
    different clients would come: the server throttles attempts per client address, and 50
    attempts in flight from one address would be throttled as a password-guessing loop."""

    async def one(index: int, username: str) -> dict:
        connector = aiohttp.TCPConnector(local_addr=(f"127.0.{(index + 2) // 250}.{(index + 2) % 250 + 1}", 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            started = time.time_ns()
            async with http.post(f"{base_url}/api/auth/login", json={"username": username, "password": PASSWORD}) as answer:
                await answer.read()
                return {"status": answer.status, "start": started, "end": time.time_ns()}

    return await asyncio.gather(*(one(i, name) for i, name in enumerate(usernames)))


def run(target: str = HUBBUB, *, logins: int = 50, bcrypt_rounds: int = 12, baseline: float = 2.0, interval_ms: float = 10.0) -> dict:
    if target != HUBBUB:
        raise ValueError("the login scenario measures Hubbub only (the peers have no logins)")
    options = {"logins": logins, "bcrypt_rounds": bcrypt_rounds, "baseline": baseline}
    log(f"logins: {logins} concurrent logins at bcrypt cost {bcrypt_rounds}")
    with launch(target, HUBBUB_BCRYPT_ROUNDS=str(bcrypt_rounds)) as t:
        users = t.make_users(logins + 1)
        probe, logging_in = users[0], users[1:]
        plan = Plan(t.ws_url, t.protocol, mode="probe", warmup=0.0, duration=MAX_SECONDS, grace=1.0, probe_interval=interval_ms / 1000)
        marks: dict = {}

        def during(_run, t0: int, _t1: int) -> list[dict]:
            sleep_until(t0 + int(baseline * NS))
            marks["logins_start"] = time.time_ns()
            answers = asyncio.run(_login_all(t.http_url, [u.username for u in logging_in]))
            marks["logins_end"] = time.time_ns()
            time.sleep(0.2)
            return answers

        m = measure(t, [([SocketSpec(probe.id, probe.token, "probe")], plan)], warmup=0.0, duration=MAX_SECONDS, grace=1.0, during=during)
        server = t.server.info  # filled in further when the server stops (exit code)
    answers = m["extra"]
    start, end = marks["logins_start"], marks["logins_end"]
    quiet = [rtt for sent, rtt in m["probes"] if sent < start]
    busy = [rtt for sent, rtt in m["probes"] if start <= sent <= end]
    quiet_p50 = metrics.percentiles(quiet)["p50"] or 0.0
    lag = metrics.percentiles([max(0, rtt - int(quiet_p50 * 1e6)) for rtt in busy])
    result = {
        "scenario": "logins",
        "target": target,
        "command": command_of(MODULE, options),
        "params": options,
        "server": server,
        "logins_ok": sum(1 for a in answers if a["status"] == 200),
        "login_statuses": {str(s): sum(1 for a in answers if a["status"] == s) for s in sorted({a["status"] for a in answers})},
        "logins_seconds": round((end - start) / NS, 3),
        "login_latency_ms": metrics.percentiles([a["end"] - a["start"] for a in answers]),
        "ping_rtt_quiet_ms": metrics.percentiles(quiet),
        "ping_rtt_during_logins_ms": metrics.percentiles(busy),
        "loop_lag_ms": lag,
        "lag_definition": "ping round trip during the logins minus the quiet p50 round trip",
        "cpu": m["window"],
    }
    log(f"  → {result['logins_ok']}/{logins} logins in {result['logins_seconds']} s; lag p99 {lag['p99']} ms, max {lag['max']} ms")
    return result


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--logins", type=int, default=50)
    parser.add_argument("--bcrypt-rounds", type=int, default=12)
    parser.add_argument("--baseline", type=float, default=2.0)
    args = parser.parse_args()
    emit(run(args.target, logins=args.logins, bcrypt_rounds=args.bcrypt_rounds, baseline=args.baseline), args.json_out)


if __name__ == "__main__":
    main()
