"""The HTTP server under every service's app: aiohttp's, with its own error answers in our form.

aiohttp answers a request it cannot parse (a NUL in a header, `Content-Length: -1`, a bad
method, version or chunk size, a line too long) itself, before any middleware sees it: a
`text/plain` 400 and an ERROR line with a traceback per request, so any client could fill the
log. Here such a request gets problem+json (RFC 9457) like every other error, and one warning
line without a traceback, at most `LOG_BURST` of them a minute.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from chargepark.http.problem import problem

log = logging.getLogger(__name__)

LOG_BURST = 20  # lines per LOG_WINDOW_SEC about refused requests; the rest are counted
LOG_WINDOW_SEC = 60.0
_DETAIL_MAX = 200


class RefusalLog:
    """At most `burst` lines per window; what was left out is told in one line after it."""

    def __init__(
        self, burst: int = LOG_BURST, window_sec: float = LOG_WINDOW_SEC, clock=time.monotonic
    ) -> None:
        self.burst, self.window_sec, self.clock = burst, window_sec, clock
        self._window_start = -window_sec
        self._logged = 0
        self._left_out = 0

    def refused(self, status: int, remote: str | None, error: str) -> None:
        now = self.clock()
        if now - self._window_start >= self.window_sec:
            if self._left_out:
                log.warning(
                    "more malformed HTTP requests were refused",
                    extra={"count": self._left_out, "window_sec": self.window_sec},
                )
            self._window_start, self._logged, self._left_out = now, 0, 0
        if self._logged >= self.burst:
            self._left_out += 1
            return
        self._logged += 1
        log.warning(
            "malformed HTTP request refused",
            extra={"status": status, "remote": remote, "error": error},
        )


refusals = RefusalLog()


def refusal(exc: HttpProcessingError) -> tuple[int, str]:
    """The status and detail for a request aiohttp's parser gave up on."""
    detail = (exc.message or type(exc).__name__).strip()
    if len(detail) > _DETAIL_MAX:
        detail = detail[:_DETAIL_MAX] + "..."
    if isinstance(exc, LineTooLong):
        # RFC 6585 section 5: a header field (or the request line) past the server's limit.
        return 431, detail
    return 400, detail


class ProblemRequestHandler(web.RequestHandler):
    """aiohttp's connection handler, answering what it cannot hand to the app as problem+json."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: too late for another answer
            raise ConnectionError("a response was already sent; the connection is dropped")
        if isinstance(exc, HttpProcessingError):
            status, detail = refusal(exc)
            refusals.refused(status, request.remote, detail)
            response = problem(status, detail, kind="malformed-request")
        elif status == 504:
            response = problem(504, "The request took too long and was abandoned.")
        else:
            # Past the app's problem middleware: a bug of ours, so the traceback is logged.
            log.error("unhandled error outside the app", exc_info=exc)
            response = problem(500, "An internal error occurred; it has been logged.")
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        # After an answer, aiohttp reads what is left of the body and logs with a traceback
        # whatever that raises. A body it cannot decode (`Content-Encoding: gzip` that is not
        # gzip) is the client's fault and was answered already (a 400, or a 401 before the
        # body was read): a refusal line, not an ERROR.
        exc = kw.get("exc_info")
        if isinstance(exc, web.RequestPayloadError):
            remote = self.transport.get_extra_info("peername") if self.transport else None
            refusals.refused(400, str(remote[0]) if remote else None, _brief(exc))
            return
        super().log_exception(*args, **kw)


def _brief(exc: BaseException) -> str:
    return str(exc)[:_DETAIL_MAX] or type(exc).__name__


class ProblemServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class ProblemAppRunner(web.AppRunner):
    """web.AppRunner whose connections are ProblemRequestHandlers."""

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # runs the app's start-up and freezes it
        kwargs: dict[str, Any] = dict(made._kwargs)
        return ProblemServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **kwargs,
        )
