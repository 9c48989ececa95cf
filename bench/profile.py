"""Where the server's time goes: py-spy samples the server process from outside (no code
change, little overhead) while the 1:1 load runs, and this module turns the samples into a
short text report: share of samples by package of the innermost Python frame, then the top
functions by self and by inclusive time. Idle samples are kept (py-spy --idle), so the
report also says how much of the wall time the event loop was waiting.

    python -m bench.profile --pairs 200 --duration 15      # writes bench/profile-send.txt
    python -m bench.profile --mode open --rate 1000 --out bench/profile-open.txt   # small batches
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE_RATE = 200


def start(pid: int, seconds: float) -> tuple[subprocess.Popen, Path]:
    """py-spy recording `pid` for `seconds`, raw collapsed stacks, one line per stack."""
    if shutil.which("py-spy") is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    raw = Path(tempfile.mkstemp(prefix="pyspy-", suffix=".txt")[1])
    argv = ["py-spy", "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))), "--rate", str(SAMPLE_RATE),
            "--format", "raw", "--function", "--threads", "--idle", "--output", str(raw)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), raw


def finish(proc: subprocess.Popen, raw: Path, out: str, title: str = "") -> str:
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    text = summarize(raw.read_text() if raw.exists() else "", title, err.decode(errors="replace"))
    Path(out).write_text(text)
    collapsed = Path(out).with_suffix(".collapsed")
    if raw.exists():
        shutil.copyfile(raw, collapsed)  # for a flame graph: flamegraph.pl or speedscope read it
        raw.unlink()
    return text


def _package(frame: str) -> str:
    """'func (path/file.py:12)' → a coarse owner of that code."""
    where = frame.rsplit("(", 1)[-1]
    for marker, name in (("sqlalchemy/", "SQLAlchemy"), ("aiomysql/", "aiomysql"), ("pymysql/", "PyMySQL"), ("aiohttp/", "aiohttp"),
                         ("asyncio/", "asyncio (stdlib)"), ("marshmallow/", "marshmallow"), ("jwt/", "PyJWT"), ("greenlet", "greenlet"),
                         ("server/", "hubbub server/"), ("handlers/", "hubbub handlers/"), ("storage/", "hubbub storage/"),
                         ("settings/", "hubbub settings/")):
        if marker in where:
            return name
    return "other: " + where.split(":")[0].rstrip(")")


def summarize(raw: str, title: str = "", note: str = "", top: int = 25) -> str:
    main: list[tuple[list[str], int]] = []
    other_threads = 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        stack, count = line.rsplit(" ", 1)
        frames = stack.split(";")
        # With --threads the first entry names the thread; the event loop's thread runs run_app.
        if any("run_app" in f or "run_forever" in f for f in frames):
            main.append((frames[1:], int(count)))
        else:
            other_threads += int(count)
    total = sum(n for _, n in main)
    lines = [f"# py-spy profile of the Hubbub server process ({time.strftime('%Y-%m-%d %H:%M')})", ""]
    if title:
        lines += [title, ""]
    lines += [f"py-spy record --rate {SAMPLE_RATE} --idle --function --threads; {total} samples of the event-loop thread"
              f" ({other_threads} samples of other threads, e.g. the executor, left out).", ""]
    if not total:
        return "\n".join(lines + ["No samples.", note])

    idle = sum(n for frames, n in main if frames and ("run_app" in frames[-1] or "run_forever" in frames[-1]))
    lines += [f"Loop thread waiting or inside uvloop's C code (no Python frame on top): {100 * idle / total:.1f}%",
              f"Running Python code: {100 * (total - idle) / total:.1f}%", ""]

    by_package: Counter = Counter()
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    for frames, n in main:
        if not frames or "run_app" in frames[-1]:
            continue
        by_package[_package(frames[-1])] += n
        self_time[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n

    lines += ["## Busy samples by the package of the innermost frame (% of all samples)", ""]
    for name, n in by_package.most_common(15):
        lines.append(f"{100 * n / total:6.1f}%  {name}")
    lines += ["", f"## Top {top} functions by self time (% of all samples)", ""]
    for f, n in self_time.most_common(top):
        lines.append(f"{100 * n / total:6.1f}%  {f}")
    lines += ["", f"## Top {top} functions by inclusive time (% of all samples), below the request handler", ""]
    shown = 0
    for f, n in inclusive.most_common():
        if any(skip in f for skip in ("<module>", "main (", "run_app", "_handle_request", "_handle (", "impl (", "_middleware")):
            continue
        lines.append(f"{100 * n / total:6.1f}%  {f}")
        shown += 1
        if shown >= top:
            break
    if note.strip():
        lines += ["", "py-spy said:", note.strip()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--mode", choices=("closed", "open"), default="closed")
    parser.add_argument("--rate", type=float, default=1000.0, help="open loop: total messages per second offered")
    parser.add_argument("--out", default=str(HERE / "profile-send.txt"))
    args = parser.parse_args()
    from bench.scenarios import direct

    result = direct.run("hubbub", pairs=args.pairs, duration=args.duration, mode=args.mode, rate=args.rate, profile_to=args.out)
    print(Path(args.out).read_text())
    print(f"{result['msgs_per_s']} msg/s while profiled; server CPU {result['cpu']['server_us_per_msg']} us/msg, "
          f"MariaDB {result['cpu']['db_us_per_msg']} us/msg; delivery ms {result['latency_ms']}")


if __name__ == "__main__":
    main()
