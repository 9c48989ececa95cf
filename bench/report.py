"""BENCHMARKS.md from the results of a run (bench/results.json).

    python -m bench.report            # rebuild BENCHMARKS.md from bench/results.json

The tables are generated; the analysis is not: bench/FINDINGS.md is written by a person after
reading a run and its profile, and is included as it is."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.targets import DESCRIPTIONS, HUBBUB, SOCKETIO_RELAY

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def _f(value, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:,.{digits}f}"
    elif isinstance(value, int):
        text = f"{value:,}"
    else:
        text = str(value)
    return text + unit


def _lat(p: dict | None) -> str:
    if not p or not p.get("count"):
        return "–"
    return f"{_f(p['p50'], 2)} / {_f(p['p90'], 2)} / {_f(p['p99'], 2)} / {_f(p['max'], 1)}"


def _ratio(a, b) -> str:
    if not a or not b:
        return "–"
    return f"{a / b:.3f}×" if a / b < 0.1 else f"{a / b:.2f}×"


def _pick(results: list[dict], scenario: str, **match) -> list[dict]:
    """The measured runs (a profiled run is slowed by the sampler: it only feeds the profiles)."""
    return [r for r in results if r.get("scenario") == scenario and "error" not in r and not r.get("profiled")
            and all(r.get(k) == v for k, v in match.items())]


def _one(results, scenario, **match) -> dict | None:
    found = _pick(results, scenario, **match)
    return found[0] if found else None


def render(doc: dict) -> str:
    results = doc["results"]
    m, v = doc["machine"], doc["versions"]
    out = ["# Hubbub benchmarks", ""]
    out += [
        f"Measured {doc['started']} on revision `{doc['revision']}` with `{doc['command']}` ({doc['seconds']:.0f} s in all).",
        "",
        "> **Shared cores.** The load generator, MariaDB and the server under test share the machine's two cores, "
        f"and the machine may be shared with other work (1-minute load average {m['loadavg'][0]:.1f} at the end of the "
        "run; each row's `loadavg` and the server's run-queue wait are in `bench/results.json`). Ratios between rows "
        "of the same run mean more than absolute numbers.",
        "",
    ]
    if doc.get("quick"):
        out += ["> **Quick run**: tiny sizes, a check of the harness only. These are not measurements.", ""]

    out += ["## Machine and versions", "",
            "| | |", "|---|---|",
            f"| CPU | {m['nproc']} × {m['cpu_model']} |",
            f"| RAM | {m['ram_gib']} GiB |",
            f"| kernel / OS | {m['kernel']} / {m['os']} |",
            f"| fd limit (soft, hard) | {m['nofile_limit'][0]}, {m['nofile_limit'][1]} |"]
    for name, version in v.items():
        out.append(f"| {name} | {version} |")
    out += ["", "Peers (same frames, same load generator, same message sizes; servers all on uvloop):", ""]
    for name, text in DESCRIPTIONS.items():
        out.append(f"- `{name}`: {text}")
    out += ["", "Load: `bench/load.py`, 2 worker processes of picows clients on uvloop, everything on 127.0.0.1. "
            "Latency is per message, from the send time written into the content to the recipient's receipt "
            "(`message.new`); reply latency is send → reply on the sender. p50 / p90 / p99 / max, in ms.", ""]

    out += _goals(results)
    out += _direct(results)
    out += _open(results)
    out += _fanout(results)
    out += _idle(results)
    out += _logins(results)
    out += _failures(results)
    out += _profile()
    findings = HERE / "FINDINGS.md"
    if findings.exists():
        out += [findings.read_text().rstrip(), ""]
    return "\n".join(out) + "\n"


def _goals(results) -> list[str]:
    d = _one(results, "direct", target=HUBBUB, mode="closed")
    # The first open-loop try: 10,000 or the highest reached.
    o = next((r for r in _pick(results, "direct", mode="open") if r["target"] == HUBBUB and not r.get("equal_load")), None)
    f = _one(results, "fanout", target=HUBBUB)
    i = _one(results, "idle", target=HUBBUB)
    lg = _one(results, "logins", target=HUBBUB)
    sio = _one(results, "direct", target=SOCKETIO_RELAY, mode="closed")

    def met(ok) -> str:
        return "–" if ok is None else ("**met**" if ok else "not met")

    rows = ["## Goals (issue 7) against this run", "", "| metric | goal | Hubbub measured | |", "|---|---|---|---|"]
    rate = d["msgs_per_s"] if d else None
    rows.append(f"| 1:1 messages persisted then delivered | ≥ 10,000 msg/s | {_f(rate)} msg/s (closed loop, {d['params']['pairs'] if d else '–'} pairs) | {met(rate >= 10000 if rate else None)} |")
    if o:
        lat = o["latency_ms"]
        at = o["offered_msgs_per_s"]
        ok = at >= 9500 and lat["p50"] is not None and lat["p50"] <= 3 and lat["p99"] <= 10 and not o["unanswered"]
        rows.append(f"| latency at 10,000 msg/s | p50 ≤ 3 ms, p99 ≤ 10 ms | p50 {_f(lat['p50'], 2)} ms, p99 {_f(lat['p99'], 2)} ms at {_f(at)} msg/s offered | {met(ok)} |")
    else:
        rows.append("| latency at 10,000 msg/s | p50 ≤ 3 ms, p99 ≤ 10 ms | – | – |")
    if f:
        us = f["cpu"]["server_us_per_delivery"]
        rows.append(f"| fan-out, {f['params']['members']}-member group | ≥ 100,000 deliveries/s, ≤ 10 µs CPU per delivery | {_f(f['deliveries_per_s'])} deliveries/s, {_f(us, 2)} µs | {met(f['deliveries_per_s'] >= 100000 and us is not None and us <= 10)} |")
    if i:
        kib = i["rss_kib_per_socket"]
        rows.append(f"| idle authenticated sockets, one process | 19,000, ≤ 20 KiB RSS each | {_f(i['sockets_open_after_hold'])} held, {_f(kib, 1)} KiB each | {met(i['sockets_open_after_hold'] >= 19000 and kib is not None and kib <= 20)} |")
    if lg:
        p99 = lg["loop_lag_ms"]["p99"]
        rows.append(f"| {lg['params']['logins']} concurrent logins | event-loop lag p99 ≤ 5 ms | p99 {_f(p99, 2)} ms (bcrypt cost {lg['params']['bcrypt_rounds']}) | {met(p99 is not None and p99 <= 5)} |")
    if d and sio:
        rows.append(f"| versus python-socketio relay | ≥ 2× its throughput | {_ratio(d['msgs_per_s'], sio['msgs_per_s'])} ({_f(d['msgs_per_s'])} vs {_f(sio['msgs_per_s'])} msg/s) | {met(d['msgs_per_s'] >= 2 * sio['msgs_per_s'])} |")
    return rows + [""]


def _direct(results) -> list[str]:
    rows = _pick(results, "direct", mode="closed")
    if not rows:
        return []
    hub = _one(results, "direct", target=HUBBUB, mode="closed")
    out = ["## (a) 1:1 messages, closed loop (maximum sustained rate)", "",
           "Each sender sends its next `send_message` when the reply to the previous one arrives. "
           "msg/s = 2xx replies inside the window; deliveries/s = `message.new` frames received. "
           "CPU is /proc utime+stime over the window; run-queue wait is how long the server's loop thread was runnable "
           "but had no CPU (contention).", "",
           "| target | msg/s | deliveries/s | Hubbub ÷ this | latency ms p50/p90/p99/max | server CPU µs/msg | server CPU util | run-queue wait s | MariaDB CPU util | load-gen CPU s | codes |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["cpu"]
        out.append(f"| `{r['target']}` | {_f(r['msgs_per_s'])} | {_f(r['deliveries_per_s'])} | {_ratio(hub['msgs_per_s'], r['msgs_per_s']) if hub else '–'} | "
                   f"{_lat(r['latency_ms'])} | {_f(c['server_us_per_msg'])} | {_f(c['server_cpu_util'], 2)} | {_f(c.get('server_runqueue_wait_s'), 2)} | "
                   f"{_f(c['db_cpu_util'], 2)} | {_f(c['loadgen_cpu_s'], 2)} | {_codes(r)} |")
    out += ["", "Reproduce:", "", "```"] + [r["command"] for r in rows] + ["```", ""]
    return out


def _codes(r: dict) -> str:
    return ", ".join(f"{k}: {v:,}" for k, v in r.get("reply_codes", {}).items()) or "–"


def _open(results) -> list[str]:
    everything = _pick(results, "direct", mode="open")
    rows = [r for r in everything if not r.get("equal_load")]
    if not everything:
        return []
    out = ["## (a) 1:1 messages, open loop (latency at a fixed offered rate)", "",
           "Messages leave on a fixed schedule whatever the server does; latency counts from when each was due. "
           "The goal's 10,000 msg/s is offered to a target whose closed-loop rate reached it; a slower target is offered "
           "80% of its closed-loop maximum instead, since offering it 10,000 would only measure a growing queue; a rate "
           "that is not sustained (replies fall behind, or delivery p99 is over 250 ms: a queue) is retried at 0.6× that, at most twice, so the last row of a target "
           "is about the highest rate it sustains. 'unanswered' = sent inside the window, no reply within the grace period. "
           "The scheduler ticks every 1 ms; a message is stamped with its due time when the generator is more than a tick "
           "late, so a backlog counts in the latency.", "",
           "| target | offered target msg/s | offered (achieved) msg/s | replied msg/s | delivery latency ms p50/p90/p99/max | reply latency ms p50/p99 | unanswered | server CPU util |",
           "|---|---|---|---|---|---|---|---|"]
    out += [f"| `{r['target']}` | {_f(r.get('offered_target_msgs_per_s'), 0)} | {_open_cells(r)}" for r in rows]
    equal = [r for r in everything if r.get("equal_load")]
    if equal:
        out += ["", f"The same rate offered to every target, {_f(equal[0]['offered_msgs_per_s'], 0)} msg/s, so the latencies compare at equal load:", "",
                "| target | offered (achieved) msg/s | replied msg/s | delivery latency ms p50/p90/p99/max | reply latency ms p50/p99 | unanswered | server CPU util |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| `{r['target']}` | {_open_cells(r)}" for r in equal]
    out += ["", "Reproduce:", "", "```"] + [r["command"] for r in everything] + ["```", ""]
    return out


def _open_cells(r: dict) -> str:
    """An open-loop row from the offered rate on: what both open-loop tables show."""
    rl = r["reply_latency_ms"]
    return (f"{_f(r['offered_msgs_per_s'])} | {_f(r['msgs_per_s'])} | {_lat(r['latency_ms'])} | "
            f"{_f(rl['p50'], 2)} / {_f(rl['p99'], 2)} | {_f(r['unanswered'])} | {_f(r['cpu']['server_cpu_util'], 2)} |")


def _fanout(results) -> list[str]:
    rows = _pick(results, "fanout")
    if not rows:
        return []
    hub = _one(results, "fanout", target=HUBBUB)
    out = ["## (b) Fan-out in a group", "",
           "Every member has one socket; a few members send to the group in a closed loop; every message goes to all "
           "other members' sockets. Latency is sampled on 1 in 16 deliveries.", "",
           "| target | members | msg/s | deliveries/s | Hubbub ÷ this | server CPU µs/delivery | server CPU util | latency ms p50/p90/p99/max | closes |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| `{r['target']}` | {_f(r['params']['members'])} | {_f(r['msgs_per_s'])} | {_f(r['deliveries_per_s'])} | "
                   f"{_ratio(hub['deliveries_per_s'], r['deliveries_per_s']) if hub else '–'} | {_f(r['cpu']['server_us_per_delivery'], 2)} | "
                   f"{_f(r['cpu']['server_cpu_util'], 2)} | {_lat(r['latency_ms'])} | {r['closes'] or '–'} |")
    out += ["", "Reproduce:", "", "```"] + [r["command"] for r in rows] + ["```", ""]
    return out


def _idle(results) -> list[str]:
    rows = _pick(results, "idle")
    if not rows:
        return []
    out = ["## (c) Idle authenticated sockets in one server process", "",
           "RSS per socket = (server VmRSS with all sockets open − VmRSS before) ÷ sockets opened. "
           "Handshake cost is the server's CPU while the sockets opened, per socket.", "",
           "| target | opened / wanted | open after hold | RSS KiB per socket | RSS before → all open, MiB | handshakes/s | server CPU ms per handshake | connect errors |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rss = r["rss_kib"]
        out.append(f"| `{r['target']}` | {_f(r['sockets_opened'])} / {_f(r['sockets_wanted'])} | {_f(r['sockets_open_after_hold'])} | "
                   f"{_f(r['rss_kib_per_socket'], 1)} | {rss['before'] / 1024:,.0f} → {rss['all_open'] / 1024:,.0f} | {_f(r['handshakes_per_s'])} | "
                   f"{_f(r['server_cpu_ms_per_handshake'], 2)} | {r['connect_errors'] or '–'} |")
    out += ["", "Reproduce:", "", "```"] + [r["command"] for r in rows] + ["```", ""]
    return out


def _logins(results) -> list[str]:
    rows = _pick(results, "logins")
    if not rows:
        return []
    out = ["## (d) Concurrent logins and event-loop lag", "",
           "A probe socket sends `ping` every 10 ms; lag = its round trip while the logins run minus the quiet median "
           "round trip. The logins come at once, each from its own loopback address (the server throttles per address), "
           "at bcrypt's production cost.", "",
           "| logins ok | bcrypt cost | all done in s | lag ms p50/p90/p99/max | ping RTT quiet ms p50/p99 | login latency ms p50/p90/p99/max |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        q = r["ping_rtt_quiet_ms"]
        out.append(f"| {r['logins_ok']} / {r['params']['logins']} | {r['params']['bcrypt_rounds']} | {_f(r['logins_seconds'], 2)} | {_lat(r['loop_lag_ms'])} | "
                   f"{_f(q['p50'], 2)} / {_f(q['p99'], 2)} | {_lat(r['login_latency_ms'])} |")
    out += ["", "Reproduce:", "", "```"] + [r["command"] for r in rows] + ["```", ""]
    return out


def _failures(results) -> list[str]:
    failed = [r for r in results if "error" in r]
    if not failed:
        return []
    out = ["## Failed scenarios", ""]
    for r in failed:
        out.append(f"- {r['scenario']} / {r.get('target')}: `{r['error']}`")
    return out + [""]


PROFILES = (
    ("send", "the send path, 1:1 closed loop", 40),
    ("open", "the send path at 1,000 msg/s, open loop (small batches)", 30),
    ("fanout", "the fan-out to a 1,000-member group", 30),
)


def _profile() -> list[str]:
    out = []
    for name, what, lines in PROFILES:
        text = HERE / f"profile-{name}.txt"
        if text.exists():
            head = text.read_text().splitlines()[2:lines]
            out += [f"## Profile of {what} (py-spy)", "",
                    f"Made by `run_all` (the closed loop also by `python -m bench.profile`): the whole report is "
                    f"`bench/profile-{name}.txt`, the collapsed stacks `bench/profile-{name}.collapsed` (render with flamegraph.pl "
                    "or speedscope).", "", "```"] + head + ["```", ""]
    return out


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results.json"
    doc = json.loads(path.read_text())
    (REPO / "BENCHMARKS.md").write_text(render(doc))


if __name__ == "__main__":
    main()
