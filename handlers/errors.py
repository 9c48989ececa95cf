"""The errors a handler or service raises. Each carries the contract's code (PROTOCOL §1);
the server maps them to the REST envelope or the socket reply in one place per transport."""

from typing import Any

BAD_REQUEST = 400
UNAUTHORIZED = 401
FORBIDDEN = 403
NOT_FOUND = 404
METHOD_NOT_ALLOWED = 405
CONFLICT = 409
PAYLOAD_TOO_LARGE = 413
UNPROCESSABLE = 422
TOO_MANY_REQUESTS = 429
INTERNAL_ERROR = 500
SERVICE_UNAVAILABLE = 503
GATEWAY_TIMEOUT = 504


class HubbubError(Exception):
    code = INTERNAL_ERROR
    default_message = "internal server error"

    def __init__(self, message: str | None = None, data: Any = None) -> None:
        self.message = message or self.default_message
        self.data = data
        super().__init__(self.message)


class BadRequest(HubbubError):
    code = BAD_REQUEST
    default_message = "malformed request"


class Unauthorized(HubbubError):
    code = UNAUTHORIZED
    default_message = "missing or invalid token"


class Forbidden(HubbubError):
    code = FORBIDDEN
    default_message = "not allowed"


class NotFound(HubbubError):
    code = NOT_FOUND
    default_message = "not found"


class Conflict(HubbubError):
    code = CONFLICT
    default_message = "conflict"


class PayloadTooLarge(HubbubError):
    code = PAYLOAD_TOO_LARGE
    default_message = "too large"


class ValidationFailed(HubbubError):
    """422 with `data.errors`: field name → list of reasons."""

    code = UNPROCESSABLE
    default_message = "validation failed"

    def __init__(self, errors: dict[str, list[str]], message: str | None = None) -> None:
        super().__init__(message, {"errors": errors})


class RateLimited(HubbubError):
    code = TOO_MANY_REQUESTS
    default_message = "too many requests"

    def __init__(self, retry_after_seconds: float, message: str | None = None) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message, {"retry_after_ms": int(retry_after_seconds * 1000) + 1})


class ServiceUnavailable(HubbubError):
    code = SERVICE_UNAVAILABLE
    default_message = "service unavailable, retry later"

    def __init__(self, message: str | None = None, retry_after_seconds: float = 1) -> None:
        self.retry_after_seconds = retry_after_seconds
        super().__init__(message, {"retry_after_ms": int(retry_after_seconds * 1000)})


class TimedOut(HubbubError):
    """A plugin's handler or hook did not finish within `plugin_timeout_seconds`."""

    code = GATEWAY_TIMEOUT
    default_message = "the handler did not answer in time"
