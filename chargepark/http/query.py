"""Reading query parameters and timestamps: bad input is a 422 naming the parameter, never a
500."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp import web

from chargepark.clock import NotATime, parse_utc
from chargepark.errors import Invalid

_WHOLE_NUMBER = re.compile(r"[0-9]{1,9}")


# The schemas of what these functions accept, for the OpenAPI documents (`operation(query=)`).
def int_param(low: int = 0, high: int | None = None) -> dict[str, Any]:
    """What query_int takes: a whole number of at most 9 digits, from `low` to `high`."""
    return {"type": "integer", "minimum": low, "maximum": 999_999_999 if high is None else high}


def choice_param(choices: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(choices)}


# What parse_time takes, documented as RFC 3339 (a subset: ISO 8601 with its offset).
TIME_PARAM: dict[str, Any] = {"type": "string", "format": "date-time"}
TEXT_PARAM: dict[str, Any] = {"type": "string"}
NO_CONTROLS = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"  # Unicode category Cc


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


def parse_time(raw: str, name: str) -> datetime:
    """An ISO-8601 timestamp with its UTC offset (`Z` or `+hh:mm`), as UTC (read by
    chargepark.clock.parse_utc); a 422 naming the parameter otherwise."""
    try:
        return parse_utc(raw)
    except NotATime as exc:
        raise Invalid(f"{name} {exc}") from None


def query_time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    return None if raw is None else parse_time(raw, name)


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query.get(name)
    if raw is not None and raw not in choices:
        raise Invalid(f"{name} must be one of {', '.join(choices)}")
    return raw
