"""x-correlation-id: taken from the request (when sane) or made, echoed, and put in every log."""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from chargepark.http.problem import Handler
from chargepark.logging import correlation_id

HEADER = "X-Correlation-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:/+=-]{1,128}$")


@web.middleware
async def correlation_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get(HEADER, "")
    cid = given if _SANE.match(given) else str(uuid.uuid4())
    token = correlation_id.set(cid)
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers[HEADER] = cid
            raise
        response.headers[HEADER] = cid
        return response
    finally:
        correlation_id.reset(token)
