"""How the server logs (issue #16): the text format of old or JSON lines (setting
`log_format`), each record carrying the context it was said in: the request id, the user and
the socket, kept in contextvars that the middleware and the socket handler set."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid
from datetime import datetime, timezone

import orjson
from aiohttp import web
from sqlalchemy.engine import make_url
from yarl import URL

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_PLUGIN_PREFIX = "hubbub.plugins."

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("hubbub_request_id", default=None)
user_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("hubbub_user_id", default=None)
socket_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("hubbub_socket", default=None)


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID when it is 1-64 characters of [A-Za-z0-9._-], else a new one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def new_socket_id() -> str:
    return uuid.uuid4().hex[:16]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and what is known of the context."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, var in (("request_id", request_id_var), ("user_id", user_id_var), ("socket", socket_var)):
            value = var.get()
            if value is not None:
                line[key] = value
        # A plugin's own lines (its ctx.logger), and the server's about a plugin's call (`extra`).
        plugin = getattr(record, "plugin", None)
        if plugin is None and record.name.startswith(_PLUGIN_PREFIX):
            plugin = record.name[len(_PLUGIN_PREFIX):]
        if plugin is not None:
            line["plugin"] = plugin
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def setup_logging(level: str, log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # aiosqlite says every call with its arguments at DEBUG: the statements' parameters
    # (password hashes, message text) have no place in a log.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, logging.getLogger().level))


@web.middleware
async def request_id_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Outermost: the request's id in the log context and on the answer (errors included)."""
    request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
    # In the log context only, not in the request's own mapping too: a first key there costs
    # the request 160 bytes, which a socket's request keeps for the socket's life.
    request_id_var.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def stamp_request_id(response: web.StreamResponse) -> None:
    """For an answer its handler prepares itself (the socket's handshake, a file download),
    which request_id_middleware sees only once it is sent. A response hook would do it for all,
    at the cost of a signal per answer, on every handshake of a reconnect storm. The request's
    id is the one request_id_middleware put in the log context of the request's task."""
    response.headers[REQUEST_ID_HEADER] = request_id_var.get()


def describe_database(database_url: str) -> str:
    """`sqlite hubbub.db` or `mysql 127.0.0.1:3306/hubbub`: never the credentials."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite {url.database or ':memory:'}"
    where = url.host or "localhost"
    if url.port:
        where = f"{where}:{url.port}"
    return f"{backend} {where}/{url.database or ''}"


def describe_bus(bus_url: str) -> str:
    if not bus_url:
        return "none"
    return ",".join(str(URL(part.strip()).with_user(None)) for part in bus_url.split(","))
