"""The aiohttp application every service starts from.

Adds, in this order: a tracing span (only while tracing is on), correlation id, request
metrics, problem+json errors, bearer auth; and the public routes /healthz, /readyz (database
and bus), /metrics and /openapi.json.
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Middleware

from chargepark import __version__, tracing
from chargepark.auth import auth_middleware, public
from chargepark.http.correlation import correlation_middleware
from chargepark.http.metrics import metrics_handler, metrics_middleware
from chargepark.http.openapi import build_openapi, operation
from chargepark.http.problem import problem, problem_middleware
from chargepark.http.tracing import tracing_middleware
from chargepark.service import ServiceContext

log = logging.getLogger(__name__)

CONTEXT = web.AppKey("service_context", ServiceContext)
MOUNTED_AT = web.AppKey("mounted_at", str)
TITLE = web.AppKey("title", str)


def make_service_app(ctx: ServiceContext, title: str) -> web.Application:
    middlewares: list[Middleware] = [
        correlation_middleware,
        metrics_middleware(ctx.name),
        problem_middleware,
        auth_middleware(ctx.verifier),
    ]
    if tracing.enabled:  # decided when the app is built: nothing per request when off
        middlewares.insert(0, tracing_middleware(ctx.name))
    app = web.Application(middlewares=middlewares, client_max_size=ctx.settings.max_body_bytes)
    app[CONTEXT] = ctx
    app[TITLE] = title
    app.router.add_get("/healthz", healthz, allow_head=False)
    app.router.add_get("/readyz", readyz, allow_head=False)
    app.router.add_get("/metrics", public(metrics_handler), allow_head=False)
    app.router.add_get("/openapi.json", openapi, allow_head=False)
    return app


@public
@operation("Liveness: the process answers", tags=["health"])
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[CONTEXT].name})


@public
@operation(
    "Readiness: database and event bus reachable",
    tags=["health"],
    responses={200: "Ready", 503: "Not ready (problem+json names what is down)"},
)
async def readyz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    checks: dict[str, str] = {}
    try:
        await ctx.db.ping()
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not ready", never a 500
        log.warning("readiness: database down", extra={"error": str(exc)})
        checks["database"] = "down"
    checks["bus"] = "ok" if ctx.bus.is_ready() else "down"
    if all(v == "ok" for v in checks.values()):
        return web.json_response({"status": "ready", "service": ctx.name, "checks": checks})
    down = ", ".join(k for k, v in checks.items() if v != "ok")
    return problem(503, f"not ready: {down} unavailable", kind="not-ready", checks=checks)


@public
@operation("This service's OpenAPI document", tags=["meta"])
async def openapi(request: web.Request) -> web.Response:
    app = request.app
    base = app.get(MOUNTED_AT, "")
    doc = build_openapi(app, title=app[TITLE], version=__version__, base=base)
    return web.json_response(doc)
