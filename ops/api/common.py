"""What every ops handler shares: the route table, the app keys, scopes, and reading times and
choices from the query string."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from chargepark.clock import isoformat_utc
from chargepark.errors import Invalid
from ops.alerts import AlertService
from ops.capacity import LotCapacities
from ops.kpis import KpiPublisher
from ops.queries import OpsQueries

routes = web.RouteTableDef()
QUERIES = web.AppKey("ops_queries", OpsQueries)
ALERTS = web.AppKey("ops_alerts", AlertService)
KPIS = web.AppKey("ops_kpis", KpiPublisher)
CAPACITIES = web.AppKey("ops_capacities", LotCapacities)

READ = "ops:read"
WRITE = "ops:write"


def queries(request: web.Request) -> OpsQueries:
    return request.app[QUERIES]


def alerts(request: web.Request) -> AlertService:
    return request.app[ALERTS]


def parse_time(raw: str, name: str) -> datetime:
    """An ISO-8601 timestamp with its UTC offset (`Z` or `+hh:mm`), as UTC."""
    try:
        ts = datetime.fromisoformat(raw)
    except ValueError:
        raise Invalid(f"{name} {raw[:64]!r} is not an ISO-8601 timestamp") from None
    if ts.tzinfo is None:
        raise Invalid(f"{name} {raw[:64]!r} has no UTC offset (add Z or +hh:mm)")
    return ts.astimezone(UTC)


def query_time(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    return None if raw is None else parse_time(raw, name)


def query_choice(request: web.Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query.get(name)
    if raw is not None and raw not in choices:
        raise Invalid(f"{name} must be one of {', '.join(choices)}")
    return raw


def whole_seconds(ts: datetime) -> datetime:
    return ts.replace(microsecond=0)


def jsonable(value: Any) -> Any:
    """Datetimes as ISO UTC, recursively."""
    if isinstance(value, datetime):
        return isoformat_utc(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
