"""`hubbub serve [--workers N]`, `hubbub migrate`, and the administrator's commands
(`hubbub user|token|conversation ...`, server.admin_cli)."""

import argparse
import asyncio
import logging
import sys

from aiohttp import web
from sqlalchemy.engine import make_url

from handlers.hooks import HookError
from migrations import upgrade
from handlers.registry import BUILTIN_ORIGIN, RegistryError
from server import admin_cli
from server.access_log import RedactingAccessLogger, quiet_malformed_requests
from server.app import create_app
from server.keys import HOOKS, REGISTRY
from server.logs import describe_bus, describe_database, setup_logging
from server.signals import stop_on_signals
from server.workers import supervise_workers
from settings import SettingsError, load_settings

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

    if args.command == "migrate":
        upgrade(settings.database_url)
        return 0
    if args.command in admin_cli.COMMANDS:
        _migrate_embedded(settings.database_url)
        return admin_cli.run(args, settings)
    if args.workers < 1:
        print("hubbub: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.workers > 1:
        if not settings.bus_url:
            print("hubbub: --workers above 1 needs a cluster bus: set bus_url (HUBBUB_BUS_URL=nats://127.0.0.1:4222)", file=sys.stderr)
            return 2
        return supervise_workers(args.workers, settings.host, settings.port)
    _migrate_embedded(settings.database_url)
    _use_uvloop()
    try:
        app = create_app(settings)
    except (RegistryError, HookError) as exc:
        print(f"hubbub: cannot load a plugin: {exc}", file=sys.stderr)
        return 2
    stop_on_signals(app)
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
    plugins = sorted({origin for origin in app[REGISTRY].types().values() if origin != BUILTIN_ORIGIN} | {hook.origin for hook in app[HOOKS].hooks})
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return (
        f"hubbub serving http://{host}:{settings.port} database {describe_database(settings.database_url)}"
        f" bus {describe_bus(settings.bus_url)} plugins {', '.join(plugins) if plugins else 'none'}"
    )


def _migrate_embedded(database_url: str) -> None:
    """The embedded database migrates itself so that `hubbub serve` (or a first `hubbub user
    create`) works with nothing else."""
    if make_url(database_url).get_backend_name() == "sqlite":
        upgrade(database_url)


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


if __name__ == "__main__":
    sys.exit(main())
