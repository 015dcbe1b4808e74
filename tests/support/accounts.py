"""The accounts service as accounts/app.py builds it, on a test database, clock and key pair."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from sqlalchemy import select

from accounts.app import build
from accounts.store import kernel, metadata
from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.clock import Clock
from chargepark.config import Settings
from chargepark.db.engine import Database
from chargepark.events.bus import EventBus
from chargepark.events.inprocess import InProcessBus
from chargepark.events.outbox import OutboxRelay
from chargepark.service import ServiceContext
from tests.support.tokens import TokenIssuer

OPERATOR_SCOPES = "accounts:read accounts:write"
CUSTOMER_SCOPES = "accounts:read accounts:write charging:read parking:read billing:read"


async def create_schema(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


def accounts_context(
    db: Database, clock: Clock, issuer: TokenIssuer, bus: EventBus | None = None
) -> ServiceContext:
    """The relay is built but not started: emitted events stay in the outbox for tests."""
    bus = bus or InProcessBus()
    return ServiceContext(
        name="accounts",
        settings=Settings(),
        db=db,
        tables=kernel,
        bus=bus,
        relay=OutboxRelay("accounts", db, kernel.outbox, bus),
        clock=clock,
        verifier=TokenVerifier(StaticJwks(issuer.jwks)),
    )


def accounts_app(db: Database, clock: Clock, issuer: TokenIssuer) -> web.Application:
    return build(accounts_context(db, clock, issuer)).app


def operator(issuer: TokenIssuer, scopes: str = OPERATOR_SCOPES) -> dict[str, str]:
    return {"Authorization": f"Bearer {issuer.issue(scopes, sub='operator-1')}"}


def customer(issuer: TokenIssuer, customer_id: str) -> dict[str, str]:
    token = issuer.issue(CUSTOMER_SCOPES, sub=customer_id, role="customer")
    return {"Authorization": f"Bearer {token}"}


async def outbox_events(db: Database) -> list[dict[str, Any]]:
    """Every event the service has written to its outbox, oldest first."""
    outbox = kernel.outbox
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(outbox.c.payload).order_by(outbox.c.id))
        return [json.loads(payload) for (payload,) in rows]


async def problem_of(response: Any, status: int) -> dict[str, Any]:
    """The problem+json body of a response that must have `status`."""
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json(content_type=None)
    assert body["status"] == status
    return body
