"""Numbers: percentiles of latency samples, and readings of other processes from /proc.

Everything here is read from outside the measured process, so measuring costs the server
nothing: CPU time from /proc/<pid>/stat (utime + stime), memory from /proc/<pid>/status
(VmRSS). Latencies are kept as integer nanoseconds until they are summarized, in ms."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata

CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentiles(samples_ns: list[int]) -> dict:
    """p50/p90/p99/max (and count, mean) in milliseconds, nearest-rank on the sorted samples."""
    if not samples_ns:
        return {"count": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(samples_ns)
    n = len(ordered)

    def rank(p: float) -> float:
        # Nearest rank: the smallest sample with at least p of the samples at or below it.
        index = max(0, min(n - 1, int(-(-p * n // 1)) - 1))
        return ordered[index] / 1e6

    return {
        "count": n,
        "p50": round(rank(0.50), 3),
        "p90": round(rank(0.90), 3),
        "p99": round(rank(0.99), 3),
        "max": round(ordered[-1] / 1e6, 3),
        "mean": round(sum(ordered) / n / 1e6, 3),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name (field 2) may hold spaces; everything after its ')' splits cleanly.
        fields = f.read().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5)
    return (utime + stime) / CLK_TCK


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds: system time is the kernel's share, e.g. loopback TCP sends."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def cpu_seconds_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def schedstat(pid: int) -> tuple[int, int, int]:
    """(ns on a CPU, ns runnable but waiting for a CPU, timeslices) of the process's main
    thread, which is the event loop's. The wait is what a busy machine costs the server: every
    database round trip wakes it up, and a wake-up on a loaded CPU waits in the run queue."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            on_cpu, waiting, slices = (int(x) for x in f.read().split()[:3])
            return on_cpu, waiting, slices
    except (OSError, ValueError):
        return 0, 0, 0


def context_switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of the main thread."""
    voluntary = involuntary = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("voluntary_ctxt_switches:"):
                voluntary = int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches:"):
                involuntary = int(line.split()[1])
    return voluntary, involuntary


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def pids_named(comm: str) -> list[int]:
    """Processes whose command name is `comm` (e.g. the MariaDB server, to charge its CPU)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as f:
                    if f.read().strip() == comm:
                        found.append(int(entry))
            except OSError:
                pass
    return found


def database_pids() -> list[int]:
    return pids_named("mariadbd") or pids_named("mysqld")


def machine() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    import resource

    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _os_name(),
        "loadavg": os.getloadavg(),
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE),
    }


def _os_name() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


PACKAGES = (
    "aiohttp",
    "sqlalchemy",
    "aiomysql",
    "pymysql",
    "orjson",
    "uvloop",
    "marshmallow",
    "picows",
    "python-socketio",
    "python-engineio",
    "py-spy",
)


def versions(mysql_server_url: str | None = None) -> dict:
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    if mysql_server_url:
        found["mariadb"] = _database_version(mysql_server_url)
    return found


def _database_version(url: str) -> str:
    try:
        from bench.servers import mysql_connect

        conn = mysql_connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                return cur.fetchone()[0]
        finally:
            conn.close()
    except Exception as exc:  # noqa: BLE001 - a missing version must not fail the report
        return f"unknown ({exc.__class__.__name__})"


def git_revision(repo: str) -> str:
    try:
        out = subprocess.run(["git", "-C", repo, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
