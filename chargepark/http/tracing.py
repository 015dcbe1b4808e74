"""A SERVER span per HTTP request, named by its route template; only in apps built while tracing
is on (chargepark.tracing), so an app built without it pays nothing per request.

The caller's `traceparent` header, when there is one, makes the span its child: a call from
another service (chargepark.http.client injects the header) continues that service's trace.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware
from opentelemetry.trace import SpanKind

from chargepark import tracing
from chargepark.http.metrics import route_of
from chargepark.http.problem import Handler


def tracing_middleware(service: str) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        attributes = {
            "http.method": request.method,
            "http.request.method": request.method,
            "http.route": route,
            "url.path": request.path,
            "chargepark.service": service,
        }
        with tracing.span(
            f"{request.method} {route}",
            kind=SpanKind.SERVER,
            attributes=attributes,
            parent=tracing.extract(request.headers),
        ) as span:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                _status(span, exc.status)
                raise
            _status(span, response.status)
            return response

    return middleware


def _status(span: object, status: int) -> None:
    span.set_attribute("http.status_code", status)  # type: ignore[attr-defined]
    span.set_attribute("http.response.status_code", status)  # type: ignore[attr-defined]
    if status >= 500:
        tracing.set_error(f"HTTP {status}")
