"""The server's figures in Prometheus form (prometheus-client), served at /metrics.

They live here, below both `server/` and `handlers/services/`, because both count into them.
prometheus-client picks its storage when it is first imported: with PROMETHEUS_MULTIPROC_DIR
set (`hubbub serve --workers N` sets it for its workers) every process writes its values to
files there and /metrics sums them, so the figures stay right whichever worker is scraped.

On the hot path only a pre-bound child is touched: `labels()` takes a lock and validates, so it
runs once per label set and the child is kept (see `Children`)."""

from __future__ import annotations

import platform
from collections.abc import Callable, Hashable
from importlib.metadata import PackageNotFoundError, version
from typing import Generic, TypeVar

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

Child = TypeVar("Child")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

# A `_created` series beside every counter and histogram doubles what a scrape carries and is
# absent from the multiprocess figures anyway.
disable_created_metrics()


class Children(Generic[Child]):
    """Label children of one metric, bound on first use and kept: a dict lookup per event."""

    __slots__ = ("_bind", "_bound")

    def __init__(self, bind: Callable[..., Child]) -> None:
        self._bind = bind
        self._bound: dict[Hashable, Child] = {}

    def __call__(self, *labels: str) -> Child:
        child = self._bound.get(labels)
        if child is None:
            child = self._bound[labels] = self._bind(*labels)
        return child


def _version() -> str:
    try:
        return version("hubbub")
    except PackageNotFoundError:
        return "unknown"


BUILD_INFO = Gauge("hubbub_build_info", "Always 1; the labels say what runs", ["version", "python"], multiprocess_mode="livemax")

# Sampled every few seconds (server.metrics_sampler), not counted per event. Summed over the
# worker processes that are alive; a user with sockets on two processes counts on both.
SOCKETS_OPEN = Gauge("hubbub_sockets_open", "Open WebSockets", multiprocess_mode="livesum")
USERS_ONLINE = Gauge("hubbub_users_online", "Users with at least one open WebSocket on a process", multiprocess_mode="livesum")
PUSH_QUEUE_FRAMES = Gauge("hubbub_push_queue_frames", "Frames waiting in sockets' outgoing queues", multiprocess_mode="livesum")
PUSH_QUEUE_DEEPEST = Gauge("hubbub_push_queue_deepest_frames", "The longest outgoing queue of one socket", multiprocess_mode="livemax")
DB_POOL_SIZE = Gauge("hubbub_db_pool_size", "Connections the database pool keeps", multiprocess_mode="livesum")
DB_POOL_IN_USE = Gauge("hubbub_db_pool_in_use", "Pooled connections checked out", multiprocess_mode="livesum")
DB_POOL_OVERFLOW = Gauge("hubbub_db_pool_overflow", "Connections open beyond the pool size", multiprocess_mode="livesum")
DB_POOL_WAITING = Gauge("hubbub_db_pool_waiting", "Tasks waiting for a pooled connection", multiprocess_mode="livesum")

FRAMES = Children(Counter("hubbub_frames_total", "Client frames received, by type and reply code", ["type", "code"]).labels)
SOCKET_CLOSES = Children(Counter("hubbub_socket_closes_total", "WebSockets closed by the server, by close code", ["code"]).labels)
MESSAGES_COMMITTED = Counter("hubbub_messages_committed_total", "Messages committed")
COMMIT_BATCH_SIZE = Histogram("hubbub_commit_batch_messages", "Messages per group-commit transaction", buckets=BATCH_BUCKETS)
COMMIT_SECONDS = Histogram("hubbub_commit_seconds", "Time of one group-commit transaction", buckets=LATENCY_BUCKETS)
SEND_TO_PUSH_SECONDS = Histogram(
    "hubbub_send_to_push_seconds", "From a send entering the queue to its message.new handed to this process's sockets", buckets=LATENCY_BUCKETS
)
HTTP_REQUESTS = Children(
    Histogram("hubbub_http_request_seconds", "REST requests by route, method and status", ["route", "method", "status"], buckets=LATENCY_BUCKETS).labels
)
LOGINS = Children(Counter("hubbub_logins_total", "Login attempts by result (ok, failed, throttled, disabled, two_factor)", ["result"]).labels)
PLUGIN_CALLS = Children(
    Counter("hubbub_plugin_calls_total", "Plugin handler, hook, route and lifecycle subscriber calls by outcome (ok, refused, error, timeout)", ["plugin", "kind", "name", "outcome"]).labels
)

BUILD_INFO.labels(_version(), platform.python_version()).set(1)
