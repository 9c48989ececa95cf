"""What an exception means to a client. Both transports ask this one function and then render
the answer their own way (the REST envelope, the socket reply)."""

import logging

from marshmallow import ValidationError
from sqlalchemy import exc as sa_exc

from handlers.errors import HubbubError, ServiceUnavailable, ValidationFailed

log = logging.getLogger(__name__)

# The database is down, unreachable, restarting or overloaded (including lock wait timeouts,
# deadlocks and an exhausted pool): a retry may well succeed. The drivers wrap their socket
# errors in these, so a bare OSError is a fault of ours (a 500), not an outage.
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def database_unavailable(exc: BaseException) -> bool:
    """An outage rather than a fault: the errors above, or any driver error on a connection
    that was found lost, whatever the driver called it."""
    return isinstance(exc, _UNAVAILABLE) or (isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated)


def as_client_error(exc: BaseException, where: str, plugin: str | None = None) -> HubbubError:
    """The client-facing error for `exc`; unexpected faults are logged with their traceback
    here and reach the client only as a generic 500. `plugin`: the distribution whose code
    raised it, for the log line's `plugin` field (server.logs)."""
    if isinstance(exc, HubbubError):
        return exc
    if isinstance(exc, ValidationError):
        return ValidationFailed(_field_errors(exc.messages))
    if database_unavailable(exc):
        # The driver's error number tells an outage from a deadlock or a lock wait; its message
        # is left out, as it may quote values.
        args = getattr(getattr(exc, "orig", None), "args", None) or ("",)
        log.warning("%s: database unavailable: %s %s", where, exc.__class__.__name__, args[0])
        return ServiceUnavailable("database unavailable, retry later")
    log.exception("%s: unexpected fault", where, exc_info=exc, extra={"plugin": plugin})
    return HubbubError()


def _field_errors(messages) -> dict[str, list[str]]:
    """marshmallow's messages as `{field: [reasons]}`; nested ones are flattened to strings."""
    if isinstance(messages, list):
        return {"_schema": [str(m) for m in messages]}
    result = {}
    for field, reasons in messages.items():
        if isinstance(reasons, dict):
            reasons = [f"{key}: {value}" for key, value in reasons.items()]
        result[str(field)] = [str(reason) for reason in reasons]
    return result
