"""`hubbub serve [--workers N]`, `hubbub migrate`, and the administrator's commands
(`hubbub user|token|conversation ...`, server.admin_cli)."""

import argparse
import asyncio
import logging
import sys

from aiohttp import web
from sqlalchemy.engine import make_url

from handlers.hooks import HookError
from handlers.lifecycle import SubscriberError
from handlers.routes import RouteError
from handlers.naming import NamingError, PluginName, check_plugin_names
from handlers.registry import BUILTIN_ORIGIN, HandlerRegistry, RegistryError, builtin_type_names
from migrations import upgrade
from migrations.plugins import PluginMigrationError, load_plugin_migrations, upgrade_plugin
from server import admin_cli, gc_tuning
from server.access_log import RedactingAccessLogger, quiet_malformed_requests
from server.app import create_app
from server.keys import HOOKS, LIFECYCLE, PLUGIN_ROUTES, REGISTRY
from server.logs import describe_bus, describe_database, setup_logging
from server.signals import stop_on_signals
from server.workers import supervise_workers
from settings import Settings, SettingsError, load_settings

log = logging.getLogger("hubbub")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub", description="Hubbub chat server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (setting: host)")
    serve.add_argument("--port", type=int, help="port to listen on (setting: port)")
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port (needs the setting bus_url when more than 1)")
    serve.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # a worker of --workers
    commands.add_parser("migrate", help="bring the database to the newest schema")
    admin_cli.add_commands(commands)
    args = parser.parse_args(argv)

    try:
        overrides = {key: value for key, value in (("host", getattr(args, "host", None)), ("port", getattr(args, "port", None))) if value is not None}
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"hubbub: bad settings: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format)
    quiet_malformed_requests()

    try:
        if args.command == "migrate":
            migrate_all(settings)
            return 0
        _migrate_embedded(settings)
    except (PluginMigrationError, NamingError) as exc:
        print(f"hubbub: cannot load a plugin: {exc}", file=sys.stderr)
        return 2
    if args.command in admin_cli.COMMANDS:
        return admin_cli.run(args, settings)
    if args.workers < 1:
        print("hubbub: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        if not settings.bus_url:
            print("hubbub: --workers above 1 needs a cluster bus: set bus_url (HUBBUB_BUS_URL=nats://127.0.0.1:4222)", file=sys.stderr)
            return 2
        return supervise_workers(args.workers, settings.host, settings.port)
    _use_uvloop()
    try:
        app = create_app(settings)
    except (RegistryError, HookError, NamingError, SubscriberError, RouteError) as exc:
        print(f"hubbub: cannot load a plugin: {exc}", file=sys.stderr)
        return 2
    stop_on_signals(app)
    app.on_startup.append(gc_tuning.tune_after_startup)
    log.info("%s", serving_line(app, settings))
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log_class=RedactingAccessLogger,
        shutdown_timeout=settings.shutdown_timeout_seconds + 1,
        handle_signals=False,  # server.signals: readiness fails before the sockets close
        reuse_port=args.reuse_port or None,
        print=None,  # the startup line above says it, in the log's format
    )
    log.info("hubbub stopped")
    return 0


def serving_line(app: web.Application, settings) -> str:
    """What this process serves, in one line and without credentials."""
    plugins = sorted(
        {origin for origin in app[REGISTRY].types().values() if origin != BUILTIN_ORIGIN}
        | {hook.origin for hook in app[HOOKS].hooks}
        | {named.origin for named in app[LIFECYCLE].subscribers}
        | {named.origin for named in app[PLUGIN_ROUTES]}
    )
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return (
        f"hubbub serving http://{host}:{settings.port} database {describe_database(settings.database_url)}"
        f" bus {describe_bus(settings.bus_url)} plugins {', '.join(plugins) if plugins else 'none'}"
    )


def migrate_all(settings: Settings) -> None:
    """The server's schema, then the schema of every plugin the settings enable (migrations.plugins)."""
    plugins = load_plugin_migrations(settings)
    check_plugin_names([PluginName(plugin.origin, "migration", plugin.name) for plugin in plugins], builtin_type_names(HandlerRegistry()))
    upgrade(settings.database_url)
    for plugin in plugins:
        log.info("migrating the schema of plugin %s from %s", plugin.name, plugin.origin)
        upgrade_plugin(settings.database_url, plugin)


def _migrate_embedded(settings: Settings) -> None:
    """The embedded database migrates itself (the server's schema and the plugins') so that
    `hubbub serve` (or a first `hubbub user create`) works with nothing else. Any other
    database is migrated by `hubbub migrate` alone: the serving user needs no DDL rights."""
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        migrate_all(settings)


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


if __name__ == "__main__":
    sys.exit(main())
