"""Outside parties failing (a charger's CALLERROR, its silence) answered as problem+json with
their own status (502, 504) and body, as domain errors are."""

from __future__ import annotations

from aiohttp import web

from chargepark.errors import Unavailable
from chargepark.http.problem import Handler, problem


@web.middleware
async def unavailable_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Unavailable as exc:
        return problem(exc.status, exc.detail or None, kind=exc.kind, **getattr(exc, "extra", {}))
