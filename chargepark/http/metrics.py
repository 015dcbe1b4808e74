"""Prometheus request metrics, labelled by service and route template (not the raw path).

A service may add scrape hooks (`add_scrape_hook`): coroutines awaited before each exposition
of its /metrics, to bring its business gauges up to date from small tables. A hook that fails
or takes longer than SCRAPE_HOOK_TIMEOUT leaves the gauges as they were.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from chargepark.http.problem import Handler

REQUESTS = Counter(
    "chargepark_http_requests_total",
    "HTTP requests answered",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "chargepark_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

SERVICE_NAME = web.AppKey("service_name", str)

ScrapeHook = Callable[[], Awaitable[None]]
SCRAPE_HOOKS = web.AppKey("metrics_scrape_hooks", list[ScrapeHook])
SCRAPE_HOOK_TIMEOUT = 2.0

log = logging.getLogger(__name__)


def add_scrape_hook(app: web.Application, hook: ScrapeHook) -> None:
    app.setdefault(SCRAPE_HOOKS, []).append(hook)


def metrics_middleware(service: str) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = route_of(request)
            LATENCY.labels(service, request.method, route).observe(time.perf_counter() - started)
            REQUESTS.labels(service, request.method, route, str(status)).inc()

    return middleware


def route_of(request: web.Request) -> str:
    # Unmatched paths share one label, so scanners cannot blow up the series count.
    resource = request.match_info.route.resource
    if resource is None:
        return "unmatched"
    return resource.canonical


async def metrics_handler(request: web.Request) -> web.Response:
    for hook in request.app.get(SCRAPE_HOOKS, ()):
        try:
            await asyncio.wait_for(hook(), SCRAPE_HOOK_TIMEOUT)
        except Exception as exc:  # stale gauges beat a failed scrape
            log.warning("metrics scrape hook failed", extra={"error": f"{exc!r}"[:200]})
    response = web.Response(body=generate_latest())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response
