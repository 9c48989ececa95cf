"""How `hubbub serve` stops. SIGTERM (what an orchestrator or `--workers`' parent sends) first
makes /readyz fail for `shutdown_drain_seconds`, so that a load balancer's health check takes
the process out of rotation while it still serves; then the listener closes and every socket
gets 1001. SIGINT (Ctrl-C), or a second SIGTERM, stops at once."""

import asyncio
import logging
import signal

from aiohttp import web
from aiohttp.web_runner import GracefulExit

from server.keys import READINESS, SETTINGS

log = logging.getLogger(__name__)


def stop_on_signals(app: web.Application) -> None:
    """For `web.run_app(..., handle_signals=False)`: installs the handlers once the loop runs."""
    app.on_startup.append(_install)


async def _install(app: web.Application) -> None:
    loop = asyncio.get_running_loop()
    readiness = app[READINESS]
    drain_seconds = app[SETTINGS].shutdown_drain_seconds

    def drain() -> None:
        if readiness.draining or drain_seconds <= 0:
            _stop()
        readiness.draining = True
        log.info("SIGTERM: not ready from now on; stopping in %ss", drain_seconds)
        loop.call_later(drain_seconds, _stop)

    loop.add_signal_handler(signal.SIGTERM, drain)
    loop.add_signal_handler(signal.SIGINT, _stop)


def _stop() -> None:
    # Raised from a signal handler or timer callback, it leaves the loop and run_app shuts down.
    raise GracefulExit()
