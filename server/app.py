"""The application factory. `create_app` only wires things together; every resource that
needs I/O (the database engine, background tasks) is opened by its own cleanup context when
the app starts and closed when it stops."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from handlers.hooks import PreSendHooks, load_hooks
from handlers.registry import HandlerRegistry, registry_from_settings
from handlers.services import Services, passwords
from handlers.services.committed import CommittedMessages
from server.bus import Bus, LocalBus
from server.delivery import Delivery
from server.gauges import SAMPLE_SECONDS, sample
from server.http_metrics import metrics_middleware
from server.keys import DB, DELIVERY, HOOKS, PIPELINE, READINESS, REGISTRY, SERVICES, SETTINGS, TRACKER
from server.logs import add_request_id_header, request_id_middleware
from server.middleware import auth_middleware, error_middleware
from server.nats_bus import NatsBus
from server.pipeline import FramePipeline
from server.readiness import Readiness
from server.routes import auth, client, conversations, docs, files, messages, meta, metrics, users
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


def create_app(settings: Settings, registry: HandlerRegistry | None = None, hooks: PreSendHooks | None = None) -> web.Application:
    """The application. Handlers and hooks come from the installed entry points as the settings
    select them, unless given; a plugin that cannot be loaded raises RegistryError/HookError."""
    registry = registry if registry is not None else registry_from_settings(settings)
    hooks = hooks if hooks is not None else PreSendHooks(load_hooks(settings), settings.plugin_timeout_seconds)
    app = web.Application(middlewares=[request_id_middleware, metrics_middleware, error_middleware, auth_middleware], client_max_size=JSON_BODY_MAX_BYTES)
    app[SETTINGS] = settings
    app[REGISTRY] = registry
    app[PIPELINE] = FramePipeline(registry, settings.plugin_timeout_seconds)
    app[HOOKS] = hooks
    app[TRACKER] = ConnectionTracker()
    app[DELIVERY] = Delivery(app[TRACKER], bus_from_settings(settings), node_timeout_seconds=settings.bus_node_timeout_seconds)
    for module_routes in (
        auth.routes, users.routes, conversations.routes, messages.routes, files.routes, meta.routes, metrics.routes, websocket_routes, client.routes, docs.routes
    ):
        app.router.add_routes(module_routes)
    client.add_static(app)
    docs.add_static(app)
    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(readiness)
    app.cleanup_ctx.append(services)
    app.cleanup_ctx.append(token_sweeper)
    app.cleanup_ctx.append(gauge_sampler)
    app.on_startup.append(log_handler_types)
    app.on_shutdown.append(close_sockets)
    app.on_response_prepare.append(add_request_id_header)
    return app


def bus_from_settings(settings: Settings) -> Bus:
    if not settings.bus_url:
        return LocalBus()
    return NatsBus(
        settings.bus_url,
        heartbeat_seconds=settings.bus_heartbeat_seconds,
        delay_seconds=settings.bus_test_delay_seconds,
        drop_every=settings.bus_test_drop_every,
    )


async def database(app: web.Application) -> AsyncIterator[None]:
    app[DB] = create_engine(app[SETTINGS].database_url)
    plugin_tables = [table for registered in app[REGISTRY].handlers() for table in registered.handler.tables]
    if plugin_tables:
        async with app[DB].begin() as conn:
            await conn.run_sync(lambda sync_conn: [table.create(sync_conn, checkfirst=True) for table in plugin_tables])
    yield
    await app[DB].dispose()


async def readiness(app: web.Application) -> AsyncIterator[None]:
    app[READINESS] = Readiness(app[SETTINGS].database_url)
    yield
    await app[READINESS].close()


async def services(app: web.Application) -> AsyncIterator[None]:
    tracker = app[TRACKER]
    delivery = app[DELIVERY]
    app[SERVICES] = Services.build(app[DB], app[SETTINGS], delivery, LocalBlobStore(app[SETTINGS].upload_dir), app[HOOKS])
    await delivery.start(CommittedMessages(app[DB]), revoked_among=app[SERVICES].auth.revoked_among)
    tracker.presence_audience = app[SERVICES].conversations.presence_audience
    yield
    await app[SERVICES].messaging.close()
    await delivery.close()
    passwords.shutdown_executor()
    tracker.presence_audience = None


async def token_sweeper(app: web.Application) -> AsyncIterator[None]:
    """Closes sockets whose token expired or whose user's tokens were all revoked or who was
    disabled (1008), and forgets revocations past their expiry.

    The admin CLI also tells the servers over the cluster bus, when there is one, so that those
    sockets close at once; reading the database here serves the servers without a bus, and
    those the bus could not reach, within TOKEN_SWEEP_SECONDS. It costs one primary-key lookup
    per user with an open socket here, in one query."""

    async def sweep_forever() -> None:
        rounds = 0
        while True:
            await asyncio.sleep(TOKEN_SWEEP_SECONDS)
            tracker = app[TRACKER]
            tracker.close_expired(int(time.time()))
            try:
                tracker.close_ended_sessions(await app[SERVICES].auth.sessions_ended(tracker.online_users()))
            except Exception:  # noqa: BLE001 - retried next round
                log.warning("could not re-check the users of open sockets", exc_info=True)
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


async def gauge_sampler(app: web.Application) -> AsyncIterator[None]:
    async def sample_forever() -> None:
        while True:
            sample(app[TRACKER], app[DB])
            await asyncio.sleep(SAMPLE_SECONDS)

    task = asyncio.create_task(sample_forever(), name="gauge-sampler")
    yield
    task.cancel()


async def log_handler_types(app: web.Application) -> None:
    for type_name, origin in app[REGISTRY].types().items():
        log.info("socket frame type %s from %s", type_name, origin)
    for hook in app[HOOKS].hooks:
        log.info("message hook %s from %s", hook.name, hook.origin)


async def close_sockets(app: web.Application) -> None:
    """On shutdown every socket gets 1001 once the frame in hand has committed and replied."""
    app[READINESS].draining = True
    tracker = app[TRACKER]
    tracker.begin_shutdown()
    connections = tracker.connections()
    wait = app[SETTINGS].shutdown_timeout_seconds
    await asyncio.gather(*(conn.finish_and_close(CLOSE_GOING_AWAY, "server shutting down", wait) for conn in connections))
