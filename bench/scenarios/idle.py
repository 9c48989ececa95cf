"""Scenario (c): idle authenticated sockets held by one server process.

Opens up to N sockets (one user each, authenticated with a real token), holds them open for
a while, and reports how many opened and stayed open and the server's resident memory per
socket: (VmRSS with all open - VmRSS before) / sockets. The fd limit of the server and of the
load workers is raised to the hard limit (servers.raise_nofile_limit); N defaults to 19,000 of
the 20,000 allowed here.

    python -m bench.scenarios.idle --target hubbub --sockets 19000 --hold 10
"""

from __future__ import annotations

import time

from bench import metrics
from bench.load import LoadRun, Plan, SocketSpec, merge, split_round_robin
from bench.scenarios.common import START_DELAY_NS, base_parser, command_of, emit, log
from bench.targets import launch

MODULE = "bench.scenarios.idle"
SETTLE_SECONDS = 2.0  # after the last handshake, before reading RSS


def run(target: str = "hubbub", *, sockets: int = 19000, hold: float = 10.0, workers: int = 2) -> dict:
    options = {"target": target, "sockets": sockets, "hold": hold, "workers": workers}
    log(f"idle: {target}, {sockets} sockets, hold {hold}s")
    with launch(target) as t:
        users = t.make_users(sockets)
        specs = [SocketSpec(u.id, u.token, "idle") for u in users]
        plan = Plan(t.ws_url, t.protocol, mode="idle", warmup=0.0, duration=hold, grace=0.0, connect_concurrency=50)
        time.sleep(0.5)
        rss_before = metrics.rss_kib(t.pid)
        fds_before = metrics.open_fds(t.pid)
        cpu_before = metrics.cpu_seconds(t.pid)
        started = time.monotonic()
        with LoadRun([(share, plan) for share in split_round_robin(specs, workers)]) as run:
            ready = run.wait_ready(timeout=900)
            open_seconds = time.monotonic() - started
            time.sleep(SETTLE_SECONDS)
            rss_open = metrics.rss_kib(t.pid)
            fds_open = metrics.open_fds(t.pid)
            cpu_open = metrics.cpu_seconds(t.pid)
            run.go(time.time_ns() + START_DELAY_NS)
            results = run.results(timeout=hold + 60)
            rss_held = metrics.rss_kib(t.pid)
            cpu_held = metrics.cpu_seconds(t.pid)
        server = t.server.info  # filled in further when the server stops (exit code)
    m = merge(results)
    opened = sum(r["opened"] for r in ready)
    errors: dict = {}
    for r in ready:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    delta = rss_open - rss_before
    result = {
        "scenario": "idle",
        "target": target,
        "command": command_of(MODULE, options),
        "params": options,
        "server": server,
        "sockets_wanted": sockets,
        "sockets_opened": opened,
        "sockets_open_after_hold": m["open_at_end"],
        "connect_errors": errors,
        "closes": m["closes"],
        "open_seconds": round(open_seconds, 1),
        "handshakes_per_s": round(opened / open_seconds, 1) if open_seconds else None,
        "server_cpu_ms_per_handshake": round((cpu_open - cpu_before) / opened * 1000, 3) if opened else None,
        "server_cpu_util_while_idle": round((cpu_held - cpu_open) / max(hold, 0.001), 3),
        "rss_kib": {"before": rss_before, "all_open": rss_open, "after_hold": rss_held},
        "rss_kib_per_socket": round(delta / opened, 2) if opened else None,
        "server_fds": {"before": fds_before, "all_open": fds_open},
    }
    log(f"  → {opened}/{sockets} open, {result['rss_kib_per_socket']} KiB RSS per socket, {result['sockets_open_after_hold']} still open after {hold}s")
    return result


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--sockets", type=int, default=19000)
    parser.add_argument("--hold", type=float, default=10.0)
    args = parser.parse_args()
    emit(run(args.target, sockets=args.sockets, hold=args.hold, workers=args.workers), args.json_out)


if __name__ == "__main__":
    main()
