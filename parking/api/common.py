"""What every parking handler shares: the route table, the app keys, scopes, who is asking,
and reading times and flags from the query string."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from chargepark.auth import PRINCIPAL
from chargepark.clock import isoformat_utc
from chargepark.errors import Forbidden, Invalid
from chargepark.http.query import parse_time, query_choice, query_time  # noqa: F401 - re-exported
from parking.queries import ParkingQueries
from parking.service import ParkingService

routes = web.RouteTableDef()
SERVICE = web.AppKey("parking_service", ParkingService)
QUERIES = web.AppKey("parking_queries", ParkingQueries)

READ = "parking:read"
WRITE = "parking:write"


def service(request: web.Request) -> ParkingService:
    return request.app[SERVICE]


def queries(request: web.Request) -> ParkingQueries:
    return request.app[QUERIES]


def lot_id(request: web.Request) -> str:
    return request.match_info["lot_id"]


def operators_only(request: web.Request) -> None:
    """Registration numbers of other people's vehicles are not a customer's to read."""
    if request[PRINCIPAL].customer_id is not None:
        raise Forbidden("a customer's token cannot read who is parked")


def query_flag(request: web.Request, name: str) -> bool:
    raw = request.query.get(name, "0").lower()
    if raw not in ("0", "1", "true", "false"):
        raise Invalid(f"{name} must be 1 or 0")
    return raw in ("1", "true")


def check_range(since: datetime | None, until: datetime | None) -> None:
    if since is not None and until is not None and until < since:
        raise Invalid("to is before from")


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else isoformat_utc(ts)
