"""Builders and doubles of billing's tests: events as parking, csms and accounts send them, a
billing service on a real database, and a scripted payment provider."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from billing.adapters.sql import SqlBillingUnitOfWork
from billing.consumers import build_consumer
from billing.payments.port import (
    InvoiceToIssue,
    IssuedInvoice,
    Payer,
    PaymentAttempt,
    PaymentStatus,
    ProviderUnavailable,
)
from billing.services import BillingService
from billing.settings import BillingSettings
from billing.store import kernel
from chargepark.clock import isoformat_utc
from chargepark.db.engine import Database
from chargepark.events.envelope import envelope
from chargepark.events.registry import validate_event
from tests.conftest import T0
from tests.support import templates


def event(name: str, **fields: Any) -> dict[str, Any]:
    doc = envelope(
        name, {k: isoformat_utc(v) if isinstance(v, datetime) else v for k, v in fields.items()}
    )
    validate_event(doc)
    return doc


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


BAY = {"level": "P0", "slot_ui": "1", "charger_id": "CP-1", "connector_id": 1}


def parked(
    regnum: str = "AB123", arrive: float = 0, lot: str = "A1", bay: dict | None = BAY
) -> dict[str, Any]:
    where = bay or {"level": "P0", "slot_ui": "2", "charger_id": None, "connector_id": None}
    return event(
        "VehicleParked", lot_id=lot, regnum=regnum, kind="CAR", fuel="EV", ts=at(arrive), **where
    )


def left(
    regnum: str = "AB123",
    arrive: float = 0,
    leave: float = 120,
    lot: str = "A1",
    bay: dict | None = BAY,
) -> dict[str, Any]:
    where = bay or {"level": "P0", "slot_ui": "2", "charger_id": None, "connector_id": None}
    return event(
        "VehicleLeft",
        lot_id=lot,
        regnum=regnum,
        kind="CAR",
        fuel="EV",
        arrived_at=at(arrive),
        duration_sec=int((leave - arrive) * 60),
        ts=at(leave),
        **where,
    )


def session_events(
    session_id: str = "S1",
    start: float = 5,
    end: float = 36,
    kwh: str = "14.300",
    charger: str = "CP-1",
    evse: int = 1,
    **who: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    ident = {
        "session_id": session_id,
        "charger_id": charger,
        "evse_id": evse,
        "connector_id": evse,
        "id_token": who.get("id_token"),
        "customer_id": who.get("customer_id"),
        "regnum": who.get("regnum"),
        "tariff_id": who.get("tariff_id"),
    }
    started = event(
        "ChargingSessionStarted", **ident, started_at=at(start), meter_start_wh=0, ts=at(start)
    )
    closed = event(
        "ChargingSessionClosed",
        **ident,
        started_at=at(start),
        ended_at=at(end),
        duration_sec=int((end - start) * 60),
        energy_wh=int(float(kwh) * 1000),
        kwh=kwh,
        reason="EVDisconnected",
        ts=at(end),
    )
    return started, closed


@dataclass
class ScriptedProvider:
    """Answers from a script: `down` raises ProviderUnavailable; `declines` collections answer
    FAILED first; otherwise issue answers OPEN and collect PAID."""

    name: str = "scripted"
    down: bool = False
    declines: int = 0
    issue_status: PaymentStatus = PaymentStatus.OPEN
    calls: list[tuple[str, Any]] = field(default_factory=list)

    async def ensure_customer(self, payer: Payer) -> str:
        self._check("ensure_customer", payer.customer_id)
        return f"cus_{payer.customer_id}"

    async def issue(self, payer: Payer, invoice: InvoiceToIssue) -> IssuedInvoice:
        self._check("issue", invoice)
        return IssuedInvoice(
            self.name, payer.provider_customer_id, f"pi_{invoice.invoice_id}", self.issue_status
        )

    async def collect(self, provider_invoice_id: str, attempt: int) -> PaymentAttempt:
        self._check("collect", (provider_invoice_id, attempt))
        if self.declines:
            self.declines -= 1
            return PaymentAttempt(
                PaymentStatus.FAILED,
                failure_code="card_declined",
                failure_message="Your card was declined.",
            )
        return PaymentAttempt(
            PaymentStatus.PAID, provider_ref=f"ch_{provider_invoice_id}_{attempt}"
        )

    def _check(self, call: str, arg: Any) -> None:
        if self.down:
            self.calls.append((call + ":down", arg))
            raise ProviderUnavailable("connection refused")
        self.calls.append((call, arg))


class Billing:
    """A billing service on `db`, fed events through its real consumer (and inbox)."""

    def __init__(self, db: Database, clock: Any, provider: Any, settings: BillingSettings) -> None:
        self.db, self.clock, self.provider = db, clock, provider
        self.units: Callable[[], SqlBillingUnitOfWork] = lambda: SqlBillingUnitOfWork(
            db, kernel.outbox, clock, lambda: None
        )
        self.service = BillingService(self.units, clock, provider, settings=settings)
        self.consumer = build_consumer(self.units, kernel)

    async def deliver(self, *events: dict[str, Any]) -> None:
        for e in events:
            await self.consumer.deliver(e, 1)

    async def outbox(self, name: str | None = None) -> list[dict[str, Any]]:
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(select(kernel.outbox.c.payload).order_by(kernel.outbox.c.id))
            found = [json.loads(r.payload) for r in rows]
        return [e for e in found if name is None or e["event"] == name]


async def a_billing(
    db: Database,
    clock: Any,
    provider: Any = None,
    *,
    settle_sec: int = 60,
    timeout_sec: int = 3600,
    **settings: Any,
) -> Billing:
    await templates.migrated("billing", db)
    billing = Billing(
        db,
        clock,
        provider or ScriptedProvider(),
        BillingSettings(
            visit_timeout_sec=timeout_sec, settle_sec=settle_sec, job_interval_sec=1, **settings
        ),
    )
    await billing.service.ensure_default_tariff()
    return billing
