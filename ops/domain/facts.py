"""The facts ops keeps from other services' events, as the ingestion use cases hand them to
storage: each keyed by what it is about and stamped with its event time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, kw_only=True)
class StayFact:
    """A vehicle's stay in a slot: the park's ts is the leave's arrived_at, so both halves of a
    stay meet on one record whichever arrives first. left_at None: still parked (or the leave
    has not arrived)."""

    lot_id: str
    slot_ui: str
    arrived_at: datetime
    level: str
    regnum: str
    charger_id: str | None = None
    connector_id: int | None = None
    left_at: datetime | None = None

    @property
    def ev_bay(self) -> bool:
        return self.charger_id is not None


@dataclass(frozen=True, kw_only=True)
class StatusFact:
    charger_id: str
    evse_id: int
    connector_id: int
    status: str  # as reported
    error_code: str | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class SessionFact:
    session_id: str
    charger_id: str
    evse_id: int
    connector_id: int
    started_at: datetime
    meter_start_wh: int | None = None
    ended_at: datetime | None = None
    energy_wh: int | None = None


@dataclass(frozen=True)
class Reading:
    """An energy register reading of one EVSE."""

    charger_id: str
    evse_id: int
    read_at: datetime
    energy_wh: int


@dataclass(frozen=True, kw_only=True)
class InvoiceFact:
    invoice_id: str
    currency: str
    total_minor: int | None = None
    issued_at: datetime | None = None
    amount_paid_minor: int | None = None
    paid_at: datetime | None = None


def session_readings(session: SessionFact) -> list[Reading]:
    """A session's start and stop registers are meter readings too: energy is counted for
    chargers that send no meter values during the session."""
    if session.meter_start_wh is None:
        return []
    rows = [(session.started_at, session.meter_start_wh)]
    if session.ended_at is not None and session.energy_wh is not None:
        rows.append((session.ended_at, session.meter_start_wh + session.energy_wh))
    return [Reading(session.charger_id, session.evse_id, at, wh) for at, wh in rows]


def unique_readings(readings: list[Reading]) -> list[Reading]:
    """One reading per EVSE and time (the last given)."""
    return list({(r.charger_id, r.evse_id, r.read_at): r for r in readings}.values())
