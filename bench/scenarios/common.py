"""What every scenario does around the load: start the workers, align the measured window,
read the server's and the database's CPU time at its edges, collect and merge the results."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

from bench import metrics
from bench.load import NS, LoadRun, merge
from bench.targets import ALL, Target

START_DELAY_NS = NS // 2  # time for every worker to get the "go" before the load starts


def sleep_until(wall_ns: int) -> None:
    delay = (wall_ns - time.time_ns()) / NS
    if delay > 0:
        time.sleep(delay)


class Window:
    """CPU seconds of the server, the database server and this process's children between
    two points in time, read from /proc."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.db_pids = metrics.database_pids()
        self.start: dict = {}
        self.end: dict = {}

    def _read(self) -> dict:
        return {
            "at": time.time_ns(),
            "server": metrics.cpu_seconds(self.server_pid),
            "db": metrics.cpu_seconds_of(self.db_pids),
            "rss_kib": metrics.rss_kib(self.server_pid),
            "split": metrics.cpu_split(self.server_pid),
            "sched": metrics.schedstat(self.server_pid),
            "switches": metrics.context_switches(self.server_pid),
            "loadavg": os.getloadavg()[0],
        }

    def open(self) -> None:
        self.start = self._read()

    def close(self) -> None:
        self.end = self._read()

    def summary(self) -> dict:
        seconds = (self.end["at"] - self.start["at"]) / NS
        server = self.end["server"] - self.start["server"]
        db = self.end["db"] - self.start["db"]
        return {
            "seconds": round(seconds, 3),
            "server_cpu_s": round(server, 3),
            "server_cpu_util": round(server / seconds, 3) if seconds else None,
            "server_system_cpu_s": round(self.end["split"][1] - self.start["split"][1], 3),
            "db_cpu_s": round(db, 3),
            "db_cpu_util": round(db / seconds, 3) if seconds else None,
            "server_rss_kib": self.end["rss_kib"],
            # The loop thread's time runnable but not running: CPU contention on this machine.
            "server_runqueue_wait_s": round((self.end["sched"][1] - self.start["sched"][1]) / NS, 3),
            "server_voluntary_switches": self.end["switches"][0] - self.start["switches"][0],
            "server_involuntary_switches": self.end["switches"][1] - self.start["switches"][1],
            "loadavg_1min": round(self.end["loadavg"], 2),
        }


def measure(target: Target, shares, *, warmup: float, duration: float, grace: float, during=None, at_window_start=None) -> dict:
    """Run the load described by `shares` and return the merged worker results plus the CPU
    window. `during(run, t0_ns, t1_ns)`, when given, runs in this process while the load does
    (the login scenario fires its logins from there); the window ends when it returns, and the
    workers are told to stop then. `at_window_start()` is called as the window opens (the
    profiler attaches there)."""
    window = Window(target.pid)
    with LoadRun(shares) as run:
        ready = run.wait_ready()
        start = time.time_ns() + START_DELAY_NS
        t0 = start + int(warmup * NS)
        t1 = t0 + int(duration * NS)
        run.go(start)
        sleep_until(t0)
        window.open()
        if at_window_start is not None:
            at_window_start()
        extra = None
        if during is not None:
            extra = during(run, t0, t1)
            run.stop()
        else:
            sleep_until(t1)
        window.close()
        results = run.results(timeout=grace + 120)
    merged = merge(results)
    merged["opened"] = sum(r["opened"] for r in ready)
    merged["wanted"] = sum(r["wanted"] for r in ready)
    merged["connect_errors"] = _sum_dicts(r["errors"] for r in ready)
    merged["window"] = window.summary()
    merged["loadgen_cpu_s"] = round(merged.pop("cpu_window"), 3)
    merged["extra"] = extra
    return merged


def measure_profiled(target: Target, shares, *, profile_to: str | None, title, **kwargs) -> dict:
    """`measure`; with `profile_to`, py-spy samples the server through the window and its
    summary, headed by `title(result)`, is written there (see bench/profile.py)."""
    if not profile_to:
        return measure(target, shares, **kwargs)
    from bench import profile

    spy = {}

    def at_window_start() -> None:
        spy["proc"], spy["raw"] = profile.start(target.pid, kwargs["duration"])

    m = measure(target, shares, at_window_start=at_window_start, **kwargs)
    profile.finish(spy["proc"], spy["raw"], profile_to, title=title(m))
    return m


def _sum_dicts(dicts) -> dict:
    total: dict = {}
    for d in dicts:
        for k, v in d.items():
            total[k] = total.get(k, 0) + v
    return total


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--target", default="hubbub", choices=ALL)
    parser.add_argument("--workers", type=int, default=2, help="load generator processes")
    parser.add_argument("--json", dest="json_out", help="also write the result to this file")
    return parser


def command_of(module: str, options: dict) -> str:
    """The command line that reproduces a row, e.g. for BENCHMARKS.md."""
    parts = ["python", "-m", module]
    for key, value in options.items():
        parts += [f"--{key.replace('_', '-')}", str(value)]
    return " ".join(shlex.quote(p) for p in parts)


def emit(result: dict, json_out: str | None) -> None:
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if json_out:
        with open(json_out, "w") as f:
            f.write(text + "\n")


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
