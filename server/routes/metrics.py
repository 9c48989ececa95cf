"""GET /metrics: the Prometheus text format, for the networks and the bearer token that the
settings allow (default: loopback only). With PROMETHEUS_MULTIPROC_DIR set (`--workers`), the
figures of every worker process are summed from their files there."""

import asyncio
import hmac
import ipaddress
import os

from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from handlers.errors import Forbidden
from server.keys import SETTINGS
from server.middleware import public
from settings import Settings

routes = web.RouteTableDef()


@routes.get("/metrics")
@public  # not a user's token: the settings say who may read it
async def metrics(request: web.Request) -> web.Response:
    if not allowed(request, request.app[SETTINGS]):
        raise Forbidden("metrics are not served to this client")
    # The classic text format, which every Prometheus reads. Reading every worker's files is
    # blocking I/O: off the event loop.
    body = await asyncio.to_thread(generate_latest, _registry())
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})


def allowed(request: web.Request, settings: Settings) -> bool:
    if settings.metrics_token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), settings.metrics_token.encode()):
            return True
    try:
        address = ipaddress.ip_address(request.remote or "")
    except ValueError:  # a unix socket, or no peer address at all
        return False
    if getattr(address, "ipv4_mapped", None) is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(network) for network in settings.metrics_allowed_networks)


def _registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
