"""Issue 13's cluster figures: what crossing the bus costs a delivery, and what a second process
adds to throughput, on one machine.

- Delivery latency, open loop: senders on process A, receivers on process A (same node) and
  then on process B (every delivery crosses NATS); the same offered rate for both.
- Throughput, closed loop: one process alone (no bus), then two processes sharing a NATS
  server with the pairs spread over them (both ends of a pair on one process; every message
  still crosses the bus, as news for the other process).
- Fan-out: a group's members dealt over the processes; deliveries per second, one process
  against two.

    python -m bench.cluster --pairs 100 --rate 1000 --duration 10 --json-out cluster.json

Needs Debian's nats-server. Server CPU is that of process A only."""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bench import metrics, servers
from bench.load import Plan, SocketSpec
from bench.scenarios.common import log, measure
from bench.targets import HUBBUB, Target, User, launch

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


@contextlib.contextmanager
def nats_server(workdir: Path) -> Iterator[str]:
    port = servers.free_port()
    with (workdir / "nats.log").open("wb") as out:
        proc = subprocess.Popen([NATS_SERVER, "-a", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def pair_shares(users: list[User], pairs: int, sender_url: str, receiver_url: str, plan: dict) -> list:
    """Senders in one load worker, receivers in the other, each on its own URL."""
    senders, receivers = [], []
    for i in range(pairs):
        sender, receiver = users[2 * i], users[2 * i + 1]
        senders.append(SocketSpec(sender.id, sender.token, "sender", {"receiver_id": receiver.id}))
        receivers.append(SocketSpec(receiver.id, receiver.token, "receiver"))
    return [(senders, Plan(sender_url, **plan)), (receivers, Plan(receiver_url, **{**plan, "rate": 0.0}))]


def spread_shares(users: list[User], pairs: int, urls: list[str], plan: dict) -> list:
    """Pair i wholly on urls[i % len(urls)], one load worker per URL."""
    shares = [[] for _ in urls]
    for i in range(pairs):
        sender, receiver = users[2 * i], users[2 * i + 1]
        shares[i % len(urls)] += [SocketSpec(sender.id, sender.token, "sender", {"receiver_id": receiver.id}), SocketSpec(receiver.id, receiver.token, "receiver")]
    return [(share, Plan(url, **plan)) for share, url in zip(shares, urls)]


def fanout_shares(users: list[User], group: int, senders: int, urls: list[str], plan: dict) -> list:
    """Every member's socket in the group, members dealt over the URLs in turn (senders too)."""
    shares = [[] for _ in urls]
    for i, user in enumerate(users):
        sender = i < senders
        shares[i % len(urls)].append(SocketSpec(user.id, user.token, "sender" if sender else "receiver", {"conversation_id": group} if sender else None))
    # Count every delivery but time 1 in 16, as bench.scenarios.fanout does.
    return [(share, Plan(url, latency_every=16, **plan)) for share, url in zip(shares, urls)]


def fanout_summary(m: dict) -> dict:
    seconds = m["window"]["seconds"]
    return {
        "msgs_per_s": round(m["acked"] / seconds, 1),
        "deliveries_per_s": round(m["delivered"] / seconds, 1),
        "latency_ms": metrics.percentiles(m["deliver_ns"]),
        "unanswered": m["unanswered"],
    }


def summary(m: dict) -> dict:
    seconds = m["window"]["seconds"]
    return {
        "msgs_per_s": round(m["acked"] / seconds, 1),
        "latency_ms": metrics.percentiles(m["deliver_ns"]),
        "unanswered": m["unanswered"],
        "server_a_us_per_msg": round(m["window"]["server_cpu_s"] / m["acked"] * 1e6, 1) if m["acked"] else None,
    }


def run(pairs: int, rate: float, duration: float, warmup: float, grace: float, members: int, senders: int) -> dict:
    timing = {"warmup": warmup, "duration": duration, "grace": grace}
    open_plan = {"mode": "open", "rate": rate, **timing}
    closed_plan = {"mode": "closed", **timing}
    results: dict = {"params": {"pairs": pairs, "rate": rate, **timing}}
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        workdir = Path(tmp)
        for name in ("alone", "a", "b"):
            (workdir / name).mkdir()
        with launch(HUBBUB, workdir / "alone") as alone:
            users = alone.make_users(2 * pairs)
            log("one process, closed loop")
            results["one_process_closed"] = summary(measure(alone, spread_shares(users, pairs, [alone.ws_url] * 2, closed_plan), **timing))
            members_alone = alone.make_users(members)
            group = alone.make_group(members_alone[0], members_alone)
            log(f"one process, fan-out to {members} members")
            results["one_process_fanout"] = fanout_summary(measure(alone, fanout_shares(members_alone, group, senders, [alone.ws_url] * 2, closed_plan), **timing))
        with nats_server(workdir) as bus_url:
            with launch(HUBBUB, workdir / "a", HUBBUB_BUS_URL=bus_url) as a:
                b = servers.start_hubbub(a.database_url, workdir / "b", HUBBUB_BUS_URL=bus_url)
                try:
                    b_url = Target(HUBBUB, b, a.protocol).ws_url
                    users = a.make_users(2 * pairs)
                    time.sleep(1.0)  # both subscribed
                    log(f"open loop at {rate:.0f} msg/s, receivers on the sending process")
                    results["same_node_open"] = summary(measure(a, pair_shares(users, pairs, a.ws_url, a.ws_url, open_plan), **timing))
                    log(f"open loop at {rate:.0f} msg/s, receivers on the other process")
                    results["cross_node_open"] = summary(measure(a, pair_shares(users, pairs, a.ws_url, b_url, open_plan), **timing))
                    log("two processes, closed loop")
                    results["two_processes_closed"] = summary(measure(a, spread_shares(users, pairs, [a.ws_url, b_url], closed_plan), **timing))
                    members_ab = a.make_users(members)
                    group = a.make_group(members_ab[0], members_ab)
                    log(f"two processes, fan-out to {members} members spread over both")
                    results["two_processes_fanout"] = fanout_summary(measure(a, fanout_shares(members_ab, group, senders, [a.ws_url, b_url], closed_plan), **timing))
                finally:
                    b.stop()
    one, two = results["one_process_closed"]["msgs_per_s"], results["two_processes_closed"]["msgs_per_s"]
    results["throughput_ratio_two_to_one"] = round(two / one, 2) if one else None
    one, two = results["one_process_fanout"]["deliveries_per_s"], results["two_processes_fanout"]["deliveries_per_s"]
    results["fanout_ratio_two_to_one"] = round(two / one, 2) if one else None
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--members", type=int, default=500, help="fan-out: group members, one socket each")
    parser.add_argument("--senders", type=int, default=4, help="fan-out: members sending in a closed loop")
    parser.add_argument("--json-out")
    args = parser.parse_args()
    results = run(args.pairs, args.rate, args.duration, args.warmup, args.grace, args.members, args.senders)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json_out:
        Path(args.json_out).write_text(text + "\n")


if __name__ == "__main__":
    main()
