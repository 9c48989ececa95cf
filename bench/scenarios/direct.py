"""Scenario (a): 1:1 messages, persisted then delivered.

N pairs of users; in each pair one socket sends `send_message {receiver_id, content}` and the
other receives `message.new`. Closed loop (default): every sender sends its next message as
soon as its reply arrives, which gives the highest rate the server sustains. Open loop
(`--mode open --rate R`): R messages per second in total, on a fixed schedule, and latency
measured from when each message was due.

    python -m bench.scenarios.direct --target hubbub --pairs 200 --duration 15
    python -m bench.scenarios.direct --target hubbub --mode open --rate 10000 --duration 15
"""

from __future__ import annotations

from bench import metrics
from bench.load import Plan, SocketSpec
from bench.scenarios.common import base_parser, command_of, emit, log, measure_profiled
from bench.targets import launch

MODULE = "bench.scenarios.direct"


def run(target: str = "hubbub", *, pairs: int = 200, duration: float = 15.0, warmup: float = 3.0, mode: str = "closed",
        rate: float = 10000.0, workers: int = 2, content_size: int = 100, grace: float = 5.0, profile_to: str | None = None) -> dict:
    """`profile_to`: a path; py-spy samples the server through the measured window and its
    summary is written there (see bench/profile.py)."""
    options = {"target": target, "pairs": pairs, "duration": duration, "warmup": warmup, "mode": mode, "workers": workers, "content_size": content_size}
    if mode == "open":
        options["rate"] = rate
    log(f"direct {mode}: {target}, {pairs} pairs, {duration}s" + (f", offered {rate:.0f} msg/s" if mode == "open" else ""))
    with launch(target) as t:
        users = t.make_users(2 * pairs)
        # Both ends of a pair in the same worker: latency is measured where the message lands.
        specs = [[] for _ in range(workers)]
        for i in range(pairs):
            sender, receiver = users[2 * i], users[2 * i + 1]
            share = specs[i % workers]
            share.append(SocketSpec(sender.id, sender.token, "sender", {"receiver_id": receiver.id}))
            share.append(SocketSpec(receiver.id, receiver.token, "receiver"))
        shares = []
        for share in specs:
            senders = sum(1 for s in share if s.role == "sender")
            plan = Plan(t.ws_url, t.protocol, mode=mode, warmup=warmup, duration=duration, grace=grace,
                        content_size=content_size, rate=rate * senders / pairs if mode == "open" else 0.0)
            shares.append((share, plan))
        loop = f"open loop at {rate:,.0f} msg/s offered" if mode == "open" else "closed loop"
        m = measure_profiled(t, shares, warmup=warmup, duration=duration, grace=grace, profile_to=profile_to,
                             title=lambda m: f"Hubbub send path: {pairs} pairs {loop}, {duration:.0f} s window, "
                                             f"{round(m['acked'] / m['window']['seconds'])} msg/s while sampled")
        server = t.server.info  # filled in further when the server stops (exit code)
    seconds = m["window"]["seconds"]
    acked = m["acked"]
    result = {
        "scenario": "direct",
        "mode": mode,
        "target": target,
        "command": command_of(MODULE, options),
        "params": options,
        "server": server,
        "sockets": {"wanted": m["wanted"], "opened": m["opened"], "connect_errors": m["connect_errors"]},
        "offered_msgs_per_s": round(m["offered"] / duration, 1),
        "answered_in_window_msgs": m["sent"],
        "msgs_per_s": round(acked / seconds, 1),
        "deliveries_per_s": round(m["delivered"] / seconds, 1),
        "latency_ms": metrics.percentiles(m["deliver_ns"]),
        "reply_latency_ms": metrics.percentiles(m["reply_ns"]),
        "reply_codes": m["codes"],
        "unanswered": m["unanswered"],
        "closes": m["closes"],
        "cpu": {
            **m["window"],
            "server_us_per_msg": round(m["window"]["server_cpu_s"] / acked * 1e6, 1) if acked else None,
            "db_us_per_msg": round(m["window"]["db_cpu_s"] / acked * 1e6, 1) if acked else None,
            "loadgen_cpu_s": m["loadgen_cpu_s"],
        },
    }
    if mode == "open":
        result["offered_target_msgs_per_s"] = rate
    log(f"  → {result['msgs_per_s']} msg/s, delivery p50 {result['latency_ms']['p50']} ms p99 {result['latency_ms']['p99']} ms, "
        f"server CPU {result['cpu']['server_cpu_util']}")
    return result


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--rate", type=float, default=10000.0, help="open loop: total messages per second offered")
    parser.add_argument("--content-size", type=int, default=100)
    parser.add_argument("--grace", type=float, default=5.0)
    args = parser.parse_args()
    emit(run(args.target, pairs=args.pairs, duration=args.duration, warmup=args.warmup, mode=args.mode, rate=args.rate,
             workers=args.workers, content_size=args.content_size, grace=args.grace), args.json_out)


if __name__ == "__main__":
    main()
