"""The application factory. `create_app` only wires things together; every resource that
needs I/O (the database engine, background tasks) is opened by its own cleanup context when
the app starts and closed when it stops."""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from handlers.hooks import PreSendHooks, load_hooks
from handlers.lifecycle import Lifecycle, load_subscribers
from handlers.naming import PluginName, check_plugin_names
from handlers.plugin_push import PluginEvents
from handlers.registry import HandlerRegistry, builtin_type_names, registry_from_settings
from handlers.routes import NamedRoutes, load_route_tables
from migrations.plugins import load_plugin_migrations
from handlers.services import Services, passwords
from handlers.services.committed import CommittedMessages
from server.bus import Bus, LocalBus
from server.delivery import Delivery
from server.gauges import SAMPLE_SECONDS, sample
from server.http_metrics import metrics_middleware
from server.keys import DB, DELIVERY, HOOKS, LIFECYCLE, PIPELINE, PLUGIN_EVENTS, PLUGIN_MIGRATIONS, PLUGIN_ROUTES, READINESS, REGISTRY, SERVICES, SETTINGS, TRACKER
from server.logs import request_id_middleware
from server.middleware import auth_middleware, error_middleware
from server.nats_bus import NatsBus
from server.plugin_routes import PREFIX as PLUGIN_ROUTES_PREFIX
from server.plugin_routes import add_plugin_routes
from server.pipeline import FramePipeline
from server.readiness import Readiness
from server.routes import auth, blocks, client, conversations, docs, files, messages, meta, metrics, search, two_factor, users
from server.tracker import CLOSE_GOING_AWAY, ConnectionTracker
from server.websocket import routes as websocket_routes
from settings import Settings
from storage import sessions as session_store
from storage import tokens as token_store
from storage.blobs import LocalBlobStore
from storage.clock import utc_now
from storage.engine import create_engine

log = logging.getLogger(__name__)

JSON_BODY_MAX_BYTES = 1024 * 1024
TOKEN_SWEEP_SECONDS = 5.0


def create_app(
    settings: Settings,
    registry: HandlerRegistry | None = None,
    hooks: PreSendHooks | None = None,
    lifecycle: Lifecycle | None = None,
    plugin_routes: list[NamedRoutes] | None = None,
) -> web.Application:
    """The application. Handlers and hooks come from the installed entry points as the settings
    select them, unless given, and so do lifecycle subscribers and plugin routes; a plugin that
    cannot be loaded raises RegistryError/HookError/SubscriberError/RouteError, one that uses a
    name not its own NamingError."""
    registry = registry if registry is not None else registry_from_settings(settings)
    lifecycle = lifecycle if lifecycle is not None else Lifecycle(load_subscribers(settings), settings.plugin_timeout_seconds)
    plugin_routes = plugin_routes if plugin_routes is not None else load_route_tables(settings)
    plugin_migrations = load_plugin_migrations(settings)
    names = [
        *registry.plugin_names(),
        *(PluginName(named.origin, "subscriber", named.name) for named in lifecycle.subscribers),
        *(PluginName(named.origin, "route", named.name) for named in plugin_routes),
        *(PluginName(plugin.origin, "migration", plugin.name) for plugin in plugin_migrations),
    ]
    prefixes = check_plugin_names(names, builtin_type_names(registry), unprefixed=settings.plugin_names_unprefixed, overridden=settings.handlers_override)
    plugin_events = PluginEvents(prefixes, settings.plugin_names_unprefixed)
    hooks = hooks if hooks is not None else PreSendHooks(load_hooks(settings), settings.plugin_timeout_seconds)
    app = web.Application(middlewares=[request_id_middleware, metrics_middleware, error_middleware, auth_middleware], client_max_size=JSON_BODY_MAX_BYTES)
    app[SETTINGS] = settings
    app[REGISTRY] = registry
    app[PIPELINE] = FramePipeline(registry, settings.plugin_timeout_seconds, plugin_events)
    app[HOOKS] = hooks
    app[LIFECYCLE] = lifecycle
    app[PLUGIN_ROUTES] = plugin_routes
    app[PLUGIN_MIGRATIONS] = plugin_migrations
    app[PLUGIN_EVENTS] = plugin_events
    app[TRACKER] = ConnectionTracker()
    app[DELIVERY] = Delivery(app[TRACKER], bus_from_settings(settings), node_timeout_seconds=settings.bus_node_timeout_seconds)
    app[DELIVERY].lifecycle = lifecycle
    for module_routes in (
        auth.routes, two_factor.routes, blocks.routes, users.routes, conversations.routes, messages.routes, search.routes, files.routes, meta.routes, metrics.routes, websocket_routes, client.routes, docs.routes
    ):
        app.router.add_routes(module_routes)
    add_plugin_routes(app, plugin_routes, settings.plugin_timeout_seconds, plugin_events)
    client.add_static(app)
    docs.add_static(app)
    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(readiness)
    app.cleanup_ctx.append(services)
    app.cleanup_ctx.append(token_sweeper)
    app.cleanup_ctx.append(gauge_sampler)
    app.on_startup.append(log_handler_types)
    app.on_shutdown.append(close_sockets)
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
    # No DDL here, the plugins' tables included: `hubbub migrate` makes them (migrations.plugins).
    app[DB] = create_engine(app[SETTINGS].database_url, app[SETTINGS].database_timeout_seconds)
    yield
    await app[DB].dispose()


async def readiness(app: web.Application) -> AsyncIterator[None]:
    app[READINESS] = Readiness(app[SETTINGS].database_url, app[PLUGIN_MIGRATIONS], app[SETTINGS].database_timeout_seconds)
    yield
    await app[READINESS].close()


async def services(app: web.Application) -> AsyncIterator[None]:
    tracker = app[TRACKER]
    delivery = app[DELIVERY]
    app[SERVICES] = Services.build(app[DB], app[SETTINGS], delivery, LocalBlobStore(app[SETTINGS].upload_dir), app[HOOKS], app[LIFECYCLE])
    app[LIFECYCLE].start(app[SERVICES], delivery, app[DB], app[SETTINGS], app[PLUGIN_EVENTS])
    await app[SERVICES].search_indexer.start()
    await delivery.start(CommittedMessages(app[DB]), revoked_among=app[SERVICES].auth.revoked_among)
    tracker.presence_audiences = app[SERVICES].conversations.presence_audiences
    yield
    await app[SERVICES].messaging.close()
    await app[SERVICES].search_indexer.close(app[SETTINGS].shutdown_timeout_seconds)
    # What the last frames caused is still told to the plugins, within the shutdown's patience.
    await app[LIFECYCLE].close(min(app[SETTINGS].plugin_timeout_seconds, app[SETTINGS].shutdown_timeout_seconds))
    await delivery.close()
    tracker.presence_audiences = None
    await app[SERVICES].auth.close()
    await app[SERVICES].conversations.close()
    passwords.shutdown_executor()


async def token_sweeper(app: web.Application) -> AsyncIterator[None]:
    """Closes sockets whose token expired or whose session ended or whose user's tokens were all
    revoked or who was disabled (1008), and forgets revocations past their expiry and sessions
    that ended.

    The admin CLI also tells the servers over the cluster bus, when there is one, so that those
    sockets close at once; reading the database here serves the servers without a bus, and
    those the bus could not reach, within TOKEN_SWEEP_SECONDS. It costs one primary-key lookup
    per user with an open socket here, in one query, and one per session, in another."""

    async def sweep_forever() -> None:
        rounds = 0
        while True:
            await asyncio.sleep(TOKEN_SWEEP_SECONDS)
            tracker = app[TRACKER]
            tracker.close_expired(int(time.time()))
            try:
                tracker.close_ended_sessions(await app[SERVICES].auth.sessions_ended(tracker.online_users()))
                session_keys = sorted({conn.token_id for conn in tracker.connections() if conn.session_id is not None})
                for key in await app[SERVICES].auth.revoked_among(session_keys):
                    tracker.close_token(key)
            except Exception:  # noqa: BLE001 - retried next round
                log.warning("could not re-check the users of open sockets", exc_info=True)
            rounds += 1
            if rounds % 720 == 0:  # hourly
                try:
                    now = utc_now()
                    async with app[DB].begin() as conn:
                        await token_store.purge_expired(conn, now)
                        await session_store.purge(conn, now, now - timedelta(seconds=app[SETTINGS].refresh_ttl_seconds))
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
    for named in app[LIFECYCLE].subscribers:
        log.info("lifecycle subscriber %s (%s) from %s", named.name, ", ".join(sorted(named.subscriber.callbacks)), named.origin)
    for named in app[PLUGIN_ROUTES]:
        for route in named.table.routes:
            log.info("plugin route %s %s/%s%s from %s", route.method, PLUGIN_ROUTES_PREFIX, named.name, route.path.rstrip("/"), named.origin)


async def close_sockets(app: web.Application) -> None:
    """On shutdown every socket gets 1001 once the frame in hand has committed and replied."""
    app[READINESS].draining = True
    tracker = app[TRACKER]
    tracker.begin_shutdown()
    connections = tracker.connections()
    wait = app[SETTINGS].shutdown_timeout_seconds
    await asyncio.gather(*(conn.finish_and_close(CLOSE_GOING_AWAY, "server shutting down", wait) for conn in connections))
