"""What every ops handler shares: the route table, the app keys, scopes, and reading times and
choices from the query string."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from chargepark.clock import isoformat_utc
from chargepark.http.query import parse_time, query_choice, query_time  # noqa: F401 - re-exported
from ops.kpis import KpiPublisher
from ops.ports import MetricsReads
from ops.services.alerts import AlertService
from ops.services.capacity import LotCapacities

routes = web.RouteTableDef()
QUERIES = web.AppKey("ops_queries", MetricsReads)
ALERTS = web.AppKey("ops_alerts", AlertService)
KPIS = web.AppKey("ops_kpis", KpiPublisher)
CAPACITIES = web.AppKey("ops_capacities", LotCapacities)

READ = "ops:read"
WRITE = "ops:write"


def queries(request: web.Request) -> MetricsReads:
    return request.app[QUERIES]


def alerts(request: web.Request) -> AlertService:
    return request.app[ALERTS]


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
