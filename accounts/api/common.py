"""What every accounts handler shares: the route table, the service key, who is asking."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from accounts.domain import UnknownCustomer
from accounts.service import AccountsService
from chargepark.auth import PRINCIPAL
from chargepark.clock import NotATime, isoformat_utc, parse_utc
from chargepark.errors import Forbidden, Invalid

routes = web.RouteTableDef()
SERVICE = web.AppKey("accounts_service", AccountsService)

READ = "accounts:read"
WRITE = "accounts:write"


def service(request: web.Request) -> AccountsService:
    return request.app[SERVICE]


def caller_customer_id(request: web.Request) -> str | None:
    """The customer holding the token, or None for an operator or a service."""
    return request[PRINCIPAL].customer_id


def path_customer_id(request: web.Request) -> str:
    """The customer in the path, which a customer's token may only name if it is its own."""
    customer_id = request.match_info["customer_id"]
    own = caller_customer_id(request)
    if own is not None and own != customer_id:
        raise UnknownCustomer(customer_id)  # the very answer an unknown id gets
    return customer_id


def operators_only(request: web.Request, what: str) -> None:
    if caller_customer_id(request) is not None:
        raise Forbidden(f"a customer's token cannot {what}")


def optional_time(value: str | None) -> datetime | None:
    """An ISO-8601 timestamp with its offset (the request schema checked the shape), as UTC;
    text that is not one is a 422."""
    if value is None:
        return None
    try:
        return parse_utc(value)
    except NotATime as exc:
        raise Invalid(str(exc)) from None


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else isoformat_utc(ts)
