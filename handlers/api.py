"""The one import a plugin needs (PLUGINS.md): `from handlers.api import Handler, Context, ...`.

Everything named in `__all__` is the supported plugin API at `API_VERSION`. A name leaves only
with a new major version; a new minor version only adds. tests/test_plugin_api.py holds the
list, so removing a name by accident fails the suite. A plugin states what it was written
against with `require_api("1.2")` at import time.

`Connection` is the type of `conn` in `async with ctx.db.begin() as conn:` (one transaction),
for the type hints of a plugin's queries; `in_transaction(ctx.db, work, what)` runs `work(conn)`
in a transaction that MySQL/MariaDB's conflicts (a deadlock, a lock wait given up) run again.

The types of the test fixtures (`HubbubClient`, `HubbubUser`, `HubbubSocket`, `HubbubServer`,
PLUGINS.md §8) are importable from here too, for a plugin's test type hints, but are not in
`__all__`: they need pytest, which a serving process does not have."""

from typing import Any

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
from storage.transactions import in_transaction

API_VERSION = "1.4"

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
    "in_transaction",
    "require_api",
]

# From server.testing, loaded when first asked for (`__getattr__`): it imports pytest.
TESTING_NAMES = ("HubbubClient", "HubbubServer", "HubbubSocket", "HubbubUser")


def __getattr__(name: str) -> Any:
    if name in TESTING_NAMES:
        from server import testing

        return getattr(testing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
