"""An access log that never writes a token: sockets may carry it in the query string."""

import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

_TOKEN_PARAM = re.compile(r"(?<=[?&]token=)[^&]*")


def redact(path_qs: str) -> str:
    return _TOKEN_PARAM.sub("REDACTED", path_qs)


class RedactingAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.1fms', request.remote, request.method, redact(request.path_qs), response.status, time * 1000
        )
