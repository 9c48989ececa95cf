"""BENCHMARKS.md from the results of a run (bench/results.json).

    python -m bench.report            # rebuild BENCHMARKS.md from bench/results.json

The tables are generated; the analysis is not: bench/FINDINGS.md is written by a person after
reading a run and its profile, and is included as it is."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.targets import AIOHTTP_BATCHED, AIOHTTP_RELAY, DESCRIPTIONS, HUBBUB, SOCKETIO_RELAY

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

    out += _goals_12(results)
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


def _best_sustained(results, target: str) -> float:
    """The highest offered rate this target sustained (bench.run_all.sustained), 0 for none."""
    return max((r["offered_msgs_per_s"] for r in _pick(results, "direct", mode="open", target=target) if r.get("sustained")), default=0.0)


def _goals_12(results) -> list[str]:
    """Issue #12: per-message cost at real traffic, each goal a ratio to a peer of the same run."""
    def met(ok) -> str:
        return "–" if ok is None else ("**met**" if ok else "not met")

    rows = ["## Goals (issue 12) against this run", "",
            "Ratios to the peers of this run. 'Sustained' (open loop): every message due in the window answered 2xx and "
            "delivered (0 unanswered, 0 lost), delivery p99 ≤ 10 ms, the offered rate achieved.", "",
            "| goal | Hubbub | peer | ratio | |", "|---|---|---|---|---|"]
    hub, floor = _best_sustained(results, HUBBUB), _best_sustained(results, AIOHTTP_BATCHED)
    if _pick(results, "direct", mode="open", target=HUBBUB) and _pick(results, "direct", mode="open", target=AIOHTTP_BATCHED):
        ratio = hub / floor if floor else None
        rows.append(f"| 1. best sustained open-loop rate ≥ 1.0× the persistence floor's | {_f(hub, 0)} msg/s | {_f(floor, 0)} msg/s (`{AIOHTTP_BATCHED}`) | "
                    f"{_ratio(hub, floor)} | {met(ratio >= 1.0 if ratio is not None else hub > 0 or None)} |")
    h1 = _one(results, "direct", target=HUBBUB, mode="open", equal_load=True)
    f1 = _one(results, "direct", target=AIOHTTP_BATCHED, mode="open", equal_load=True)
    if h1 and f1:
        a, b = h1["cpu"]["server_us_per_msg"], f1["cpu"]["server_us_per_msg"]
        rows.append(f"| 2. server CPU per message at {_f(h1['params']['rate'], 0)} msg/s offered ≤ 1.5× the floor's | {_f(a)} µs | {_f(b)} µs | "
                    f"{_ratio(a, b)} | {met(a <= 1.5 * b if a and b else None)} |")
    hc = _one(results, "direct", target=HUBBUB, mode="closed")
    fc = _one(results, "direct", target=AIOHTTP_BATCHED, mode="closed")
    if hc and fc:
        rows.append(f"| 3. closed loop ({hc['params']['pairs']} pairs) ≥ 1.0× the floor's msg/s | {_f(hc['msgs_per_s'])} msg/s | {_f(fc['msgs_per_s'])} msg/s | "
                    f"{_ratio(hc['msgs_per_s'], fc['msgs_per_s'])} | {met(hc['msgs_per_s'] >= fc['msgs_per_s'])} |")
    hi = _one(results, "idle", target=HUBBUB)
    ri = _one(results, "idle", target=AIOHTTP_RELAY)
    if hi and ri:
        a, b = hi["handshakes_per_s"], ri["handshakes_per_s"]
        rows.append(f"| 4a. sockets opened per second ({_f(hi['params']['sockets'])} at once) ≥ 0.6× the raw relay's | {_f(a)} | {_f(b)} (`{AIOHTTP_RELAY}`) | "
                    f"{_ratio(a, b)} | {met(a >= 0.6 * b if a and b else None)} |")
        a, b = hi["rss_kib_per_socket"], ri["rss_kib_per_socket"]
        rows.append(f"| 4b. RSS per idle socket ≤ 1.1× the relay's | {_f(a)} KiB | {_f(b)} KiB | {_ratio(a, b)} | {met(a <= 1.1 * b if a and b else None)} |")
    hf = _one(results, "fanout", target=HUBBUB)
    ff = _one(results, "fanout", target=AIOHTTP_BATCHED)
    if hf and ff:
        rows.append(f"| 5a. fan-out, no worse (deliveries/s; 0.75× the floor's in the previous run) | {_f(hf['deliveries_per_s'])} | {_f(ff['deliveries_per_s'])} | "
                    f"{_ratio(hf['deliveries_per_s'], ff['deliveries_per_s'])} | see findings |")
    lg = _one(results, "logins", target=HUBBUB)
    if lg:
        p99 = lg["loop_lag_ms"]["p99"]
        rows.append(f"| 5b. logins, no worse (event-loop lag p99; 0.57 ms in the previous run) | {_f(p99, 2)} ms | – | – | see findings |")
    return rows + [""]


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

    rows = ["## Earlier goals (issue 7) against this run", "", "| metric | goal | Hubbub measured | |", "|---|---|---|---|"]
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
    if not everything:
        return []
    out = ["## (a) 1:1 messages, open loop (latency at a fixed offered rate)", "",
           "Messages leave on a fixed schedule whatever the server does; latency counts from when each was due. "
           "Every target is offered the same rates in turn, and stops climbing at the first it does not sustain: "
           "sustained = every message due in the window answered 2xx ('unanswered': no reply within the grace period) and "
           "delivered ('lost': answered 2xx, never delivered), delivery p99 ≤ 10 ms, the offered rate achieved. "
           "The scheduler ticks every 1 ms; a message is stamped with its due time when the generator is more than a tick "
           "late, so a backlog counts in the latency.", "",
           "| target | offered (achieved) msg/s | replied msg/s | delivery latency ms p50/p90/p99/max | reply latency ms p50/p99 | unanswered | server CPU util | lost | server CPU µs/msg | sustained |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    out += [f"| `{r['target']}` | {_open_cells(r)} {_f(r.get('lost'))} | {_f(r['cpu']['server_us_per_msg'])} | {'yes' if r.get('sustained') else 'no'} |" for r in everything]
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
