"""What the HTTP server logs about requests: an access log that never writes a token (sockets
may carry it in the query string), and a malformed request said in one line, not as a fault."""

import logging
import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.log import server_logger
from aiohttp.web import BaseRequest, StreamResponse

_TOKEN_PARAM = re.compile(r"(?<=[?&]token=)[^&]*")


def redact(path_qs: str) -> str:
    return _TOKEN_PARAM.sub("REDACTED", path_qs)


class RedactingAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.1fms', request.remote, request.method, redact(request.path_qs), response.status, time * 1000
        )


class _MalformedRequests(logging.Filter):
    """aiohttp's server answers a request it cannot parse (garbage, TLS on the HTTP port, a bad
    or overlong header) with a 400 and logs it as an error with a traceback, as if it were a
    fault of its own: on the internet that is routine noise that hides the real faults. Such a
    record becomes one line at INFO (or stays at DEBUG), naming the error's class only, since
    its text quotes the request, which may carry a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, HttpProcessingError):
            return True
        record.msg = f"{record.getMessage()}: malformed request refused with {error.code} ({type(error).__name__})"
        record.args = ()
        record.exc_info = record.exc_text = None
        if record.levelno > logging.INFO:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        # The logger let the record through at its first level; say it only if INFO is wanted.
        return logging.getLogger(record.name).isEnabledFor(record.levelno)


def quiet_malformed_requests() -> None:
    """Installs the filter on aiohttp's server log (once)."""
    if not any(isinstance(f, _MalformedRequests) for f in server_logger.filters):
        server_logger.addFilter(_MalformedRequests())
