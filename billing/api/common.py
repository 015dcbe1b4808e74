"""What every billing handler shares: the route table, the app key, scopes and query parsing."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from billing.service import BillingService
from chargepark.auth import PRINCIPAL
from chargepark.clock import isoformat_utc
from chargepark.errors import Invalid

routes = web.RouteTableDef()
SERVICE = web.AppKey("billing_service", BillingService)

READ = "billing:read"
WRITE = "billing:write"


def service(request: web.Request) -> BillingService:
    return request.app[SERVICE]


def customer_of(request: web.Request) -> str | None:
    """The customer holding the token, or None for an operator or a service."""
    return request[PRINCIPAL].customer_id


def parse_time(raw: str, name: str) -> datetime:
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


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else isoformat_utc(ts)
