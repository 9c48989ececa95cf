"""`hubbub serve --workers N`: N server processes sharing one port (SO_REUSEPORT, so the kernel
spreads new connections over them) and one cluster bus. The parent only supervises: it starts
the workers, restarts one that dies, and passes SIGTERM/SIGINT on, waiting for all to stop."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 1.0


def supervise_workers(count: int, host: str, port: int) -> int:
    command = [sys.executable, "-m", "server.cli", "serve", "--host", host, "--port", str(port), "--reuse-port"]
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
                time.sleep(RESTART_PAUSE_SECONDS)
                workers[index] = subprocess.Popen(command)
        time.sleep(0.2)
    return max(worker.wait() for worker in workers)
