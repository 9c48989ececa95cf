"""The application factory. `create_app` only wires things together; every resource that
needs I/O (the database engine, background tasks) is opened by its own cleanup context when
the app starts and closed when it stops."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from handlers.registry import HandlerRegistry, default_registry
from handlers.services import Services
from server.keys import DB, PIPELINE, REGISTRY, SERVICES, SETTINGS, TRACKER
from server.middleware import auth_middleware, error_middleware
from server.pipeline import FramePipeline
from server.routes import auth, client, conversations, files, messages, meta, users
from server.tracker import CLOSE_GOING_AWAY, ConnectionTracker
from server.websocket import routes as websocket_routes
from settings import Settings
from storage import tokens as token_store
from storage.blobs import LocalBlobStore
from storage.clock import utc_now
from storage.engine import create_engine

log = logging.getLogger(__name__)

JSON_BODY_MAX_BYTES = 1024 * 1024
TOKEN_SWEEP_SECONDS = 5.0


def create_app(settings: Settings, registry: HandlerRegistry | None = None) -> web.Application:
    registry = registry if registry is not None else default_registry()
    app = web.Application(middlewares=[error_middleware, auth_middleware], client_max_size=JSON_BODY_MAX_BYTES)
    app[SETTINGS] = settings
    app[REGISTRY] = registry
    app[PIPELINE] = FramePipeline(registry)
    app[TRACKER] = ConnectionTracker()
    for module_routes in (auth.routes, users.routes, conversations.routes, messages.routes, files.routes, meta.routes, websocket_routes, client.routes):
        app.router.add_routes(module_routes)
    client.add_static(app)
    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(services)
    app.cleanup_ctx.append(token_sweeper)
    app.on_startup.append(log_handler_types)
    app.on_shutdown.append(close_sockets)
    return app


async def database(app: web.Application) -> AsyncIterator[None]:
    app[DB] = create_engine(app[SETTINGS].database_url)
    yield
    await app[DB].dispose()


async def services(app: web.Application) -> AsyncIterator[None]:
    tracker = app[TRACKER]
    app[SERVICES] = Services.build(app[DB], app[SETTINGS], tracker, LocalBlobStore(app[SETTINGS].upload_dir))
    tracker.presence_audience = app[SERVICES].conversations.presence_audience
    yield
    tracker.presence_audience = None


async def token_sweeper(app: web.Application) -> AsyncIterator[None]:
    """Closes sockets whose token expired (1008) and forgets revocations past their expiry."""

    async def sweep_forever() -> None:
        rounds = 0
        while True:
            await asyncio.sleep(TOKEN_SWEEP_SECONDS)
            app[TRACKER].close_expired(int(time.time()))
            rounds += 1
            if rounds % 720 == 0:  # hourly
                try:
                    async with app[DB].begin() as conn:
                        await token_store.purge_expired(conn, utc_now())
                except Exception:  # noqa: BLE001 - retried next hour
                    log.exception("purging expired revocations failed")

    task = asyncio.create_task(sweep_forever(), name="token-sweeper")
    yield
    task.cancel()
    # Sockets whose handlers ended late (cancelled at shutdown) may still be announcing
    # presence; that must finish or stop before the database goes.
    await app[TRACKER].settle(app[SETTINGS].shutdown_timeout_seconds)


async def log_handler_types(app: web.Application) -> None:
    for type_name, origin in app[REGISTRY].types().items():
        log.info("socket frame type %s from %s", type_name, origin)


async def close_sockets(app: web.Application) -> None:
    """On shutdown every socket gets 1001 once the frame in hand has committed and replied."""
    tracker = app[TRACKER]
    tracker.begin_shutdown()
    connections = tracker.connections()
    wait = app[SETTINGS].shutdown_timeout_seconds
    await asyncio.gather(*(conn.finish_and_close(CLOSE_GOING_AWAY, "server shutting down", wait) for conn in connections))
