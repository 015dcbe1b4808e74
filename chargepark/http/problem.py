"""RFC 9457 problem details: every error a service answers is `application/problem+json`."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

import asyncpg
import sqlalchemy.exc
from aiohttp import web

from chargepark.errors import DomainError, ProgrammingError, Unavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def problem(
    status: int,
    detail: str | None = None,
    *,
    kind: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    body: dict[str, Any] = {
        "type": f"urn:chargepark:problem:{kind}" if kind else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    return web.Response(
        status=status, text=json.dumps(body), content_type=PROBLEM_JSON, headers=headers
    )


class BadRequest(DomainError):
    """Malformed input at an edge (bad JSON, wrong content type): 400."""

    kind = "bad-request"


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in _KEPT_HEADERS}
        detail = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None
        return problem(exc.status, detail or _default_detail(exc, request), headers=headers)
    except DomainError as exc:
        return problem(exc.status, exc.detail or None, kind=exc.kind, **getattr(exc, "extra", {}))
    except Unavailable as exc:
        # An outside party (a charger, another service) failed or did not answer: its own
        # status (502, 503, 504), not the caller's fault. A charger's CALLERROR or silence is
        # the answer the operator asked for (the command log keeps it): logged at info only.
        (log.warning if exc.status == 503 else log.info)(
            "an outside party is unavailable",
            extra={"method": request.method, "path": request.path, "error": _brief(exc)},
        )
        retry = {"Retry-After": "1"} if exc.status == 503 else None
        fields = getattr(exc, "extra", {})
        return problem(exc.status, exc.detail or None, kind=exc.kind, headers=retry, **fields)
    except ProgrammingError:
        # A bug of ours (an event we produce that breaks its schema): never the caller's fault.
        log.exception("programming error", extra={"method": request.method, "path": request.path})
        return problem(500, "An internal error occurred; it has been logged.")
    except Exception as exc:
        if not out_of_reach(exc):
            # Never a traceback to the client; the log has it with the correlation id.
            log.exception("unhandled error", extra={"method": request.method, "path": request.path})
            return problem(500, "An internal error occurred; it has been logged.")
        # The database (or another dependency) could not be reached or did not answer in
        # time: nothing is wrong with the request, and it may be sent again.
        log.warning(
            "a dependency is unavailable",
            extra={"method": request.method, "path": request.path, "error": _brief(exc)},
        )
        return problem(
            503,
            "A service this request needs is unavailable for the moment; try again shortly.",
            kind="unavailable",
            headers={"Retry-After": "1"},
        )


# What "could not reach it" looks like: connection refused, reset or timed out, a pool with no
# connection to give, PostgreSQL refusing connections (too many clients, starting up).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
)


def out_of_reach(exc: BaseException) -> bool:
    """`exc`, or an error it wraps, is one of UNAVAILABLE. SQLAlchemy wraps what its asyncpg
    dialect has no class for in a plain DBAPIError: while PostgreSQL shuts down or starts up
    (a restart) a connect fails with asyncpg's CannotConnectNowError inside one."""
    cause: BaseException | None = exc
    for _ in range(8):  # a chain, not a cycle: a few links at most
        if cause is None:
            return False
        if isinstance(cause, UNAVAILABLE):
            return True
        cause = getattr(cause, "orig", None) or cause.__cause__
    return False


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


_KEPT_HEADERS = {"allow", "www-authenticate", "retry-after"}


def _default_detail(exc: web.HTTPException, request: web.Request) -> str | None:
    if exc.status == 404:
        return f"No resource at {request.path}"
    if exc.status == 405:
        return f"{request.method} is not allowed on {request.path}"
    if exc.status == 413:
        return "The request body is larger than this service accepts"
    return None
