"""The one import a plugin needs (PLUGINS.md): `from handlers.api import Handler, Context, ...`.

Everything named in `__all__` is the supported plugin API at `API_VERSION`. A name leaves only
with a new major version; a new minor version only adds. tests/test_plugin_api.py holds the
list, so removing a name by accident fails the suite. A plugin states what it was written
against with `require_api("1.2")` at import time.

`Connection` is the type of `conn` in `async with ctx.db.begin() as conn:` (one transaction),
for the type hints of a plugin's queries."""

from sqlalchemy.ext.asyncio import AsyncConnection as Connection

from handlers.base import Context, EmptySchema, Handler, Reply
from handlers.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    HubbubError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    TimedOut,
    Unauthorized,
    ValidationFailed,
)
from handlers.events import EVENTS
from handlers.hooks import MessageRejected, OutgoingMessage
from handlers.routes import PluginRequest, PluginRoutes, RequestContext
from handlers.lifecycle import (
    CONVERSATION_CREATED,
    CONVERSATION_DELETED,
    CONVERSATION_OWNER_CHANGED,
    CONVERSATION_UPDATED,
    LIFECYCLE_EVENTS,
    MEMBER_ADDED,
    MEMBER_REMOVED,
    MEMBER_ROLE_CHANGED,
    MESSAGE_EDITED,
    MESSAGE_RECALLED,
    MESSAGE_STORED,
    USER_CONNECTED,
    USER_DELETED,
    USER_DISCONNECTED,
    USER_UPDATED,
    LifecycleContext,
    Subscriber,
)

API_VERSION = "1.3"

__all__ = [
    "API_VERSION",
    "BadRequest",
    "CONVERSATION_CREATED",
    "CONVERSATION_DELETED",
    "CONVERSATION_OWNER_CHANGED",
    "CONVERSATION_UPDATED",
    "Conflict",
    "Connection",
    "Context",
    "EVENTS",
    "EmptySchema",
    "Forbidden",
    "Handler",
    "HubbubError",
    "LIFECYCLE_EVENTS",
    "LifecycleContext",
    "MEMBER_ADDED",
    "MEMBER_REMOVED",
    "MEMBER_ROLE_CHANGED",
    "MESSAGE_EDITED",
    "MESSAGE_RECALLED",
    "MESSAGE_STORED",
    "MessageRejected",
    "NotFound",
    "OutgoingMessage",
    "PluginRequest",
    "PluginRoutes",
    "PayloadTooLarge",
    "RateLimited",
    "Reply",
    "RequestContext",
    "ServiceUnavailable",
    "Subscriber",
    "TimedOut",
    "USER_CONNECTED",
    "USER_DELETED",
    "USER_DISCONNECTED",
    "USER_UPDATED",
    "Unauthorized",
    "ValidationFailed",
    "require_api",
]


class IncompatibleAPI(ImportError):
    """The server's plugin API cannot serve a plugin written against another version."""


def require_api(version: str) -> None:
    """Refuse to load (ImportError, which startup reports with the plugin's name) unless this
    server's API has the same major version and at least the minor version asked for."""
    wanted_major, wanted_minor = _parse(version)
    major, minor = _parse(API_VERSION)
    if wanted_major != major or wanted_minor > minor:
        raise IncompatibleAPI(f"the plugin needs Hubbub plugin API {version}; this server has {API_VERSION}")


def _parse(version: str) -> tuple[int, int]:
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)
