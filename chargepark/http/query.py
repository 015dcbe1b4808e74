"""Reading query parameters: a bad number is a 422 naming the parameter, never a 500."""

from __future__ import annotations

import re

from aiohttp import web

from chargepark.errors import Invalid

_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


def query_int(
    request: web.Request, name: str, default: int, *, low: int = 0, high: int | None = None
) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _WHOLE_NUMBER.fullmatch(raw):
        raise Invalid(f"{name} must be a whole number")
    value = int(raw)
    if value < low or (high is not None and value > high):
        bound = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise Invalid(f"{name} must be a whole number {bound}")
    return value
