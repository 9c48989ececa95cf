"""`hubbub serve --workers N`: N server processes sharing one port (SO_REUSEPORT, so the kernel
spreads new connections over them) and one cluster bus. The parent only supervises: it starts
the workers, restarts one that dies, and passes SIGTERM/SIGINT on, waiting for all to stop.

The workers write their metrics to files in PROMETHEUS_MULTIPROC_DIR so that /metrics, whichever
worker answers it, sums them all. The parent makes a private directory unless one is given,
empties it at start (old files would count twice), and tells prometheus-client of each worker
that is gone, so that its gauges stop counting."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prometheus_client import multiprocess

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 1.0
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def supervise_workers(count: int, host: str, port: int) -> int:
    command = [sys.executable, "-m", "server.cli", "serve", "--host", host, "--port", str(port), "--reuse-port"]
    metrics_dir, made_here = _metrics_dir()
    try:
        return _run(command, count, host, port, metrics_dir)
    finally:
        if made_here:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _metrics_dir() -> tuple[str, bool]:
    """The directory the workers inherit (in the environment), emptied; True when made here."""
    given = os.environ.get(METRICS_DIR)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return given, False
    made = tempfile.mkdtemp(prefix="hubbub-metrics-")
    os.environ[METRICS_DIR] = made
    return made, True


def _run(command: list[str], count: int, host: str, port: int, metrics_dir: str) -> int:
    workers = [subprocess.Popen(command) for _ in range(count)]
    stopping = False

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("serving on %s:%s with %s worker processes", host, port, count)
    while not stopping:
        for index, worker in enumerate(workers):
            if worker.poll() is not None and not stopping:
                log.warning("worker %s exited with %s; starting another", worker.pid, worker.returncode)
                multiprocess.mark_process_dead(worker.pid, metrics_dir)
                time.sleep(RESTART_PAUSE_SECONDS)
                workers[index] = subprocess.Popen(command)
        time.sleep(0.2)
    return max(worker.wait() for worker in workers)
