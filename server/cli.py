"""`hubbub serve` and `hubbub migrate`."""

import argparse
import asyncio
import logging
import sys

from aiohttp import web
from sqlalchemy.engine import make_url

from handlers.hooks import HookError
from migrations import upgrade
from handlers.registry import RegistryError
from server.access_log import RedactingAccessLogger
from server.app import create_app
from settings import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hubbub", description="Hubbub chat server")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (setting: host)")
    serve.add_argument("--port", type=int, help="port to listen on (setting: port)")
    commands.add_parser("migrate", help="bring the database to the newest schema")
    args = parser.parse_args(argv)

    try:
        overrides = {key: value for key, value in (("host", getattr(args, "host", None)), ("port", getattr(args, "port", None))) if value is not None}
        settings = load_settings(**overrides)
    except SettingsError as exc:
        print(f"hubbub: bad settings: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.command == "migrate":
        upgrade(settings.database_url)
        return 0
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        # The embedded database migrates itself so that `hubbub serve` works with nothing else.
        upgrade(settings.database_url)
    _use_uvloop()
    try:
        app = create_app(settings)
    except (RegistryError, HookError) as exc:
        print(f"hubbub: cannot load a plugin: {exc}", file=sys.stderr)
        return 2
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log_class=RedactingAccessLogger,
        shutdown_timeout=settings.shutdown_timeout_seconds + 1,
        handle_signals=True,
    )
    return 0


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


if __name__ == "__main__":
    sys.exit(main())
