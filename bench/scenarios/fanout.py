"""Scenario (b): fan-out in one big group.

M members, each with one open socket; S of them send to the group in a closed loop (next
message when the reply arrives), so every message is stored once and pushed to M - 1 sockets.
Reported: deliveries per second (message.new frames received by the load generator inside
the window) and the server's CPU time per delivery (/proc/<pid>/stat over the same window).

    python -m bench.scenarios.fanout --target hubbub --members 1000 --senders 4 --duration 15
"""

from __future__ import annotations

from bench import metrics
from bench.load import Plan, SocketSpec, split_round_robin
from bench.scenarios.common import base_parser, command_of, emit, log, measure_profiled
from bench.targets import launch

MODULE = "bench.scenarios.fanout"


def run(target: str = "hubbub", *, members: int = 1000, senders: int = 4, duration: float = 15.0, warmup: float = 3.0,
        workers: int = 2, content_size: int = 100, grace: float = 5.0, profile_to: str | None = None) -> dict:
    """`profile_to`: a path; py-spy samples the server through the measured window and its
    summary is written there (see bench/profile.py)."""
    options = {"target": target, "members": members, "senders": senders, "duration": duration, "warmup": warmup, "workers": workers,
               "content_size": content_size}
    log(f"fanout: {target}, {members} members, {senders} senders, {duration}s")
    with launch(target) as t:
        users = t.make_users(members)
        group = t.make_group(users[0], users)
        specs = [
            SocketSpec(u.id, u.token, "sender" if i < senders else "receiver", {"conversation_id": group} if i < senders else None)
            for i, u in enumerate(users)
        ]
        # A push reaches every member: count each one, but parse only 1 in 16 for latency, so the
        # load generator's cost per delivery stays far below the server's.
        plan = Plan(t.ws_url, t.protocol, mode="closed", warmup=warmup, duration=duration, grace=grace, content_size=content_size,
                    latency_every=16)
        shares = [(share, plan) for share in split_round_robin(specs, workers)]
        m = measure_profiled(t, shares, warmup=warmup, duration=duration, grace=grace, profile_to=profile_to,
                             title=lambda m: f"Hubbub fan-out: {members} members, {senders} senders, {duration:.0f} s window, "
                                             f"{round(m['delivered'] / m['window']['seconds'])} deliveries/s while sampled")
        server = t.server.info  # filled in further when the server stops (exit code)
    seconds = m["window"]["seconds"]
    delivered, acked = m["delivered"], m["acked"]
    result = {
        "scenario": "fanout",
        "target": target,
        "command": command_of(MODULE, options),
        "params": options,
        "server": server,
        "sockets": {"wanted": m["wanted"], "opened": m["opened"], "connect_errors": m["connect_errors"]},
        "msgs_per_s": round(acked / seconds, 1),
        "deliveries_per_s": round(delivered / seconds, 1),
        "deliveries_per_msg": round(delivered / acked, 1) if acked else None,
        "latency_ms": metrics.percentiles(m["deliver_ns"]),
        "latency_sampled": "1 in 16 deliveries",
        "reply_latency_ms": metrics.percentiles(m["reply_ns"]),
        "reply_codes": m["codes"],
        "closes": m["closes"],
        "cpu": {
            **m["window"],
            "server_us_per_delivery": round(m["window"]["server_cpu_s"] / delivered * 1e6, 2) if delivered else None,
            "loadgen_cpu_s": m["loadgen_cpu_s"],
        },
    }
    log(f"  → {result['deliveries_per_s']} deliveries/s, {result['cpu']['server_us_per_delivery']} µs server CPU per delivery")
    return result


def main() -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--content-size", type=int, default=100)
    parser.add_argument("--grace", type=float, default=5.0)
    args = parser.parse_args()
    emit(run(args.target, members=args.members, senders=args.senders, duration=args.duration, warmup=args.warmup,
             workers=args.workers, content_size=args.content_size, grace=args.grace), args.json_out)


if __name__ == "__main__":
    main()
