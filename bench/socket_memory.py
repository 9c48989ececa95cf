"""What an idle socket keeps, in Python allocations (tracemalloc), per source line.

RSS per socket (scenario idle) moves by ±0.5 KiB from run to run on a shared machine; the
Python allocations do not. This starts a target with tracemalloc (bench/socket_memory_probe),
opens N idle sockets, and compares snapshots taken before and with all of them open:

    python -m bench.socket_memory --target hubbub --sockets 2000
    python -m bench.socket_memory --target aiohttp-relay --sockets 2000 --save /tmp/relay.snaps
    python -m bench.socket_memory --target hubbub --sockets 2000 --against /tmp/relay.snaps

Lines are where a block was allocated. Objects that CPython recycles through free lists
(dicts and their key tables, tuples, floats) may be charged to the line that first allocated
the memory rather than to the object now using it: read small rows with that in mind."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench import metrics
from bench.load import LoadRun, Plan, SocketSpec, split_round_robin
from bench.targets import ALL, HUBBUB, launch

PROBE = Path(__file__).resolve().parent / "socket_memory_probe"
REPO = Path(__file__).resolve().parent.parent


def _ask(directory: Path, name: str, timeout: float = 120.0) -> None:
    (directory / f"{name}.go").touch()
    deadline = time.monotonic() + timeout
    while not (directory / f"{name}.done").exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server's probe did not answer {name!r}")
        time.sleep(0.2)


def measure(target: str, sockets: int, directory: Path) -> dict:
    """Snapshots `before.snap` and `open.snap` in `directory`; RSS per socket (with tracemalloc's
    own overhead, so larger than the idle scenario's)."""
    saved = {k: os.environ.get(k) for k in ("BENCH_MEMPROBE_DIR", "PYTHONPATH")}
    os.environ["BENCH_MEMPROBE_DIR"] = str(directory)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(PROBE), str(REPO), *filter(None, [saved["PYTHONPATH"]])])
    try:
        with launch(target) as t:
            for key, value in saved.items():  # the load workers run without the probe
                os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
            users = t.make_users(sockets)
            plan = Plan(t.ws_url, t.protocol, mode="idle", warmup=0.0, duration=0.5, grace=0.0, connect_concurrency=50)
            _ask(directory, "start")
            time.sleep(1.0)
            _ask(directory, "before")
            rss_before = metrics.rss_kib(t.pid)
            specs = [SocketSpec(u.id, u.token, "idle") for u in users]
            with LoadRun([(share, plan) for share in split_round_robin(specs, 2)]) as run:
                opened = sum(r["opened"] for r in run.wait_ready(timeout=900))
                time.sleep(2.0)
                _ask(directory, "open")
                rss_open = metrics.rss_kib(t.pid)
                run.go(time.time_ns() + 200_000_000)
                run.results(timeout=60)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
    return {"opened": opened, "rss_kib_per_socket": (rss_open - rss_before) / max(opened, 1)}


def per_line(directory: Path, sockets: int) -> dict[str, tuple[float, float]]:
    """{file:line: (bytes, blocks) per socket} of what was allocated and is still alive."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, str(PROBE / "*"))]
    before = tracemalloc.Snapshot.load(str(directory / "before.snap")).filter_traces(ignore)
    opened = tracemalloc.Snapshot.load(str(directory / "open.snap")).filter_traces(ignore)
    lines = {}
    for stat in opened.compare_to(before, "lineno"):
        frame = stat.traceback[0]
        lines[f"{frame.filename.split('site-packages/')[-1]}:{frame.lineno}"] = (stat.size_diff / sockets, stat.count_diff / sockets)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=ALL, default=HUBBUB)
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--save", help="keep the snapshots in this directory (for a later --against)")
    parser.add_argument("--against", help="a directory saved by --save: print the difference, line by line")
    parser.add_argument("--min-bytes", type=float, default=16.0, help="leave out lines below this many bytes per socket")
    args = parser.parse_args()
    directory = Path(args.save) if args.save else Path(tempfile.mkdtemp(prefix="socket-memory-"))
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    try:
        result = measure(args.target, args.sockets, directory)
        lines = per_line(directory, result["opened"])
    finally:
        if not args.save:
            shutil.rmtree(directory, ignore_errors=True)
    print(f"{args.target}: {result['opened']} sockets, {sum(b for b, _ in lines.values()):,.0f} B of Python allocations per socket"
          f" (RSS with tracemalloc on: {result['rss_kib_per_socket']:.1f} KiB per socket)")
    if args.against:
        other = per_line(Path(args.against), args.sockets)
        print(f"against {args.against}: {sum(b for b, _ in other.values()):,.0f} B per socket")
        rows = [(lines.get(k, (0, 0))[0] - other.get(k, (0, 0))[0], k) for k in set(lines) | set(other)]
        print("  B/socket, this minus the other, by the line that allocated it:")
    else:
        rows = [(size, k) for k, (size, _) in lines.items()]
    for size, line in sorted(rows, reverse=True):
        if abs(size) >= args.min_bytes:
            print(f"  {size:8.1f}  {line}")


if __name__ == "__main__":
    sys.exit(main())
