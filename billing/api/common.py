"""What every billing handler shares: the route table, the app key, scopes and query parsing."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from billing.services import BillingService
from chargepark.auth import PRINCIPAL
from chargepark.clock import isoformat_utc
from chargepark.http.query import parse_time, query_time  # noqa: F401 - re-exported

routes = web.RouteTableDef()
SERVICE = web.AppKey("billing_service", BillingService)

READ = "billing:read"
WRITE = "billing:write"


def service(request: web.Request) -> BillingService:
    return request.app[SERVICE]


def customer_of(request: web.Request) -> str | None:
    """The customer holding the token, or None for an operator or a service."""
    return request[PRINCIPAL].customer_id


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else isoformat_utc(ts)
