"""Building the ops service on a test database, and platform events as producers send them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.clock import isoformat_utc
from chargepark.config import Settings
from chargepark.db.engine import Database
from chargepark.events.envelope import envelope
from chargepark.events.inprocess import InProcessBus
from chargepark.events.outbox import OutboxRelay
from chargepark.events.registry import validate_event
from chargepark.service import ServiceContext, ServiceParts
from ops import api
from ops.adapters.queries import OpsQueries
from ops.app import build
from ops.services.alerts import AlertService
from ops.settings import OPS, OpsSettings
from ops.store import kernel
from tests.conftest import T0, FixedClock
from tests.support import templates
from tests.support.tokens import TokenIssuer


@dataclass
class Ops:
    db: Database
    clock: FixedClock
    parts: ServiceParts
    issuer: TokenIssuer

    @property
    def alerts(self) -> AlertService:
        return self.parts.app[api.ALERTS]

    @property
    def queries(self) -> OpsQueries:
        return self.parts.app[api.QUERIES]

    async def feed(self, *events: dict[str, Any]) -> None:
        assert self.parts.consumer is not None
        for event in events:
            await self.parts.consumer.deliver(dict(event), 1)

    async def outbox(self) -> list[dict[str, Any]]:
        import json

        async with self.db.engine.connect() as conn:
            rows = await conn.execute(select(kernel.outbox.c.payload).order_by(kernel.outbox.c.id))
            return [json.loads(r.payload) for r in rows]

    def token(self, scopes: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(scopes)}"}


async def build_ops(db: Database, clock: FixedClock, webhook_url: str | None = None) -> Ops:
    await templates.migrated("ops", db)
    issuer = TokenIssuer()
    bus = InProcessBus()
    settings = Settings().with_section(
        OPS, OpsSettings(alert_webhook_url=webhook_url, webhook_max_attempts=5)
    )
    ctx = ServiceContext(
        name="ops",
        settings=settings,
        db=db,
        tables=kernel,
        bus=bus,
        relay=OutboxRelay("ops", db, kernel.outbox, bus, clock=clock),
        clock=clock,
        verifier=TokenVerifier(StaticJwks(issuer.jwks)),
    )
    return Ops(db, clock, build(ctx), issuer)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(name: str, ts: datetime, **fields: Any) -> dict[str, Any]:
    doc = envelope(name, {"ts": isoformat_utc(ts), **fields}, event_id=str(uuid.uuid4()))
    validate_event(doc)
    return doc


def status(charger: str, evse: int, value: str, ts: datetime, code: str | None = None) -> dict:
    return event(
        "ChargerStatusChanged",
        ts,
        charger_id=charger,
        evse_id=evse,
        connector_id=evse,
        status=value,
        error_code=code,
    )


def parked(
    lot: str,
    slot: str,
    ts: datetime,
    *,
    level: str = "P0",
    regnum: str = "AB123",
    charger: str | None = None,
    connector: int | None = None,
) -> dict:
    return event(
        "VehicleParked",
        ts,
        lot_id=lot,
        level=level,
        slot_ui=slot,
        regnum=regnum,
        kind="CAR",
        fuel="EV" if charger else "ICE",
        charger_id=charger,
        connector_id=connector,
    )


def left(
    lot: str,
    slot: str,
    arrived: datetime,
    ts: datetime,
    *,
    level: str = "P0",
    regnum: str = "AB123",
    charger: str | None = None,
    connector: int | None = None,
) -> dict:
    return event(
        "VehicleLeft",
        ts,
        lot_id=lot,
        level=level,
        slot_ui=slot,
        regnum=regnum,
        kind="CAR",
        fuel="EV" if charger else "ICE",
        arrived_at=isoformat_utc(arrived),
        duration_sec=int((ts - arrived).total_seconds()),
        charger_id=charger,
        connector_id=connector,
    )


def started(session: str, charger: str, evse: int, ts: datetime, meter: int | None = None) -> dict:
    return event(
        "ChargingSessionStarted",
        ts,
        session_id=session,
        charger_id=charger,
        evse_id=evse,
        connector_id=evse,
        started_at=isoformat_utc(ts),
        meter_start_wh=meter,
    )


def closed(
    session: str, charger: str, evse: int, begun: datetime, ts: datetime, energy_wh: int
) -> dict:
    return event(
        "ChargingSessionClosed",
        ts,
        session_id=session,
        charger_id=charger,
        evse_id=evse,
        connector_id=evse,
        started_at=isoformat_utc(begun),
        ended_at=isoformat_utc(ts),
        duration_sec=int((ts - begun).total_seconds()),
        energy_wh=energy_wh,
        kwh=f"{energy_wh / 1000:.3f}",
    )


def telemetry(ts: datetime, *readings: tuple[str, int, datetime, int | None]) -> dict:
    return event(
        "MeterTelemetry",
        ts,
        readings=[
            {
                "charger_id": charger,
                "evse_id": evse,
                "connector_id": evse,
                "transaction_id": None,
                "samples": 1,
                "first_at": isoformat_utc(read_at),
                "last_at": isoformat_utc(read_at),
                "energy_wh": wh,
                "power_w": None,
            }
            for charger, evse, read_at, wh in readings
        ],
    )


def issued(invoice: str, ts: datetime, total: int, currency: str = "EUR") -> dict:
    return event(
        "InvoiceIssued",
        ts,
        invoice_id=invoice,
        customer_id=None,
        visit_id=None,
        total_minor=total,
        tax_minor=0,
        currency=currency,
    )


def paid(invoice: str, ts: datetime, amount: int, currency: str = "EUR") -> dict:
    return event(
        "InvoicePaid",
        ts,
        invoice_id=invoice,
        customer_id=None,
        amount_minor=amount,
        currency=currency,
        provider="local",
        provider_ref=None,
    )


def site_load(
    site: str,
    ts: datetime,
    drawn: tuple[float, float, float],
    limit: tuple[float, float, float] = (32.0, 32.0, 32.0),
    *chargers: tuple[str, int, float, float | None],
    voltage: float = 230.0,
) -> dict:
    """A SiteLoadReported: `chargers` as (charger, evse, limit A, drawn A or None)."""
    return event(
        "SiteLoadReported",
        ts,
        site_id=site,
        phases=3,
        voltage=voltage,
        limit_amps=list(limit),
        other_load_amps=[0.0, 0.0, 0.0],
        allocated_amps=[sum(c[2] for c in chargers)] * 3,
        drawn_amps=list(drawn),
        chargers=[
            {
                "charger_id": charger,
                "evse_id": evse,
                "limit_amps": limit_a,
                "drawn_amps": drawn_a,
                "paused": limit_a == 0,
            }
            for charger, evse, limit_a, drawn_a in chargers
        ],
    )


def refused(site: str, charger: str, ts: datetime, reason: str = "Rejected") -> dict:
    return event("SmartChargingRefused", ts, site_id=site, charger_id=charger, reason=reason)
