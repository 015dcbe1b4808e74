"""In-memory doubles of parking's storage ports, with the same transaction semantics: a unit of
work sees its own changes, and only commit() makes them (and its events) visible."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from chargepark.events.envelope import envelope_of
from chargepark.events.registry import validate_event
from parking.allocation import choose_slot
from parking.domain import (
    AlreadyParked,
    BayTaken,
    Lot,
    LotExists,
    LotNotEmpty,
    Slot,
    Stay,
    UnknownLot,
    Vehicle,
)
from parking.ports import (
    ChargerStatus,
    EnergyReading,
    ParkContext,
    SessionClosed,
    SessionStarted,
)


@dataclass
class State:
    lots: dict[str, Lot] = field(default_factory=dict)
    parked: dict[tuple[str, int], Stay] = field(default_factory=dict)  # (lot, slot_ui)
    history: list[tuple[str, str, str, int, datetime]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)


class FakeLots:
    def __init__(self, state: State) -> None:
        self.state = state

    async def get(self, lot_id: str, *, for_update: bool = False) -> Lot:
        if lot_id not in self.state.lots:
            raise UnknownLot(lot_id)
        return copy.deepcopy(self.state.lots[lot_id])

    async def add(self, lot: Lot) -> None:
        if lot.id in self.state.lots:
            raise LotExists(lot.id)
        bays = {
            (s.charger_id, s.connector_id)
            for other in self.state.lots.values()
            for s in other.slots.values()
            if s.ev_bay
        }
        if any((s.charger_id, s.connector_id) in bays for s in lot.slots.values() if s.ev_bay):
            raise BayTaken("a charger connector is a bay already")
        self.state.lots[lot.id] = copy.deepcopy(lot)

    async def save(
        self, lot: Lot, *, added: list[Slot], removed: list[int], switched: list[int]
    ) -> None:
        self.state.lots[lot.id] = copy.deepcopy(lot)

    async def remove(self, lot_id: str) -> None:
        if any(lot == lot_id for lot, _ in self.state.parked):
            raise LotNotEmpty(f"lot {lot_id!r} has parked vehicles")
        del self.state.lots[lot_id]


class FakeOccupancy:
    def __init__(self, state: State) -> None:
        self.state = state

    async def park_context(self, lot_id: str, regnum: str) -> ParkContext:
        if lot_id not in self.state.lots:
            raise UnknownLot(lot_id)
        mine = [h for h in self.state.history if h[0] == lot_id and h[2] == regnum]
        last = mine[-1] if mine else None
        return ParkContext(
            self.state.lots[lot_id].ev_bays_for_ice,
            last[1] if last else None,
            last[4] if last else None,
        )

    def _free(self, lot_id: str) -> list[Slot]:
        return [
            s
            for s in self.state.lots[lot_id].slots.values()
            if (lot_id, s.slot_ui) not in self.state.parked
        ]

    async def claim_nearest(
        self,
        lot_id: str,
        vehicle: Vehicle,
        order: tuple[bool, ...],
        since: datetime,
        *,
        wait: bool = False,
    ) -> Slot | None:
        lot = self.state.lots[lot_id]
        slot = choose_slot(self._free(lot_id), vehicle, lot.ev_bays_for_ice)
        if slot is None:
            return None
        return slot if await self.claim(lot_id, slot, vehicle, since) else None

    async def claim(self, lot_id: str, slot: Slot, vehicle: Vehicle, since: datetime) -> bool:
        if await self.slot_of(lot_id, vehicle.regnum) is not None:
            raise AlreadyParked(vehicle.regnum)
        if (lot_id, slot.slot_ui) in self.state.parked:
            return False
        self.state.parked[(lot_id, slot.slot_ui)] = Stay(lot_id, slot, vehicle, since)
        return True

    async def slot_of(self, lot_id: str, regnum: str) -> int | None:
        for (lot, slot_ui), stay in self.state.parked.items():
            if lot == lot_id and stay.vehicle.regnum == regnum:
                return slot_ui
        return None

    async def has_free(self, lot_id: str, vehicle: Vehicle, order: tuple[bool, ...]) -> bool:
        lot = self.state.lots[lot_id]
        return choose_slot(self._free(lot_id), vehicle, lot.ev_bays_for_ice) is not None

    async def occupied(self, lot_id: str) -> set[int]:
        return {slot_ui for (lot, slot_ui) in self.state.parked if lot == lot_id}

    async def release(
        self, lot_id: str, *, regnum: str | None = None, slot_ui: int | None = None
    ) -> Stay | None:
        for key, stay in list(self.state.parked.items()):
            if key[0] != lot_id:
                continue
            if regnum is not None and stay.vehicle.regnum != regnum:
                continue
            if slot_ui is not None and key[1] != slot_ui:
                continue
            del self.state.parked[key]
            return stay
        return None

    async def record(self, action: str, stay: Stay, at: datetime, recorded_at: datetime) -> None:
        self.state.history.append((stay.lot_id, action, stay.vehicle.regnum, stay.slot.slot_ui, at))


class FakeUnitOfWork:
    """Shares `committed` between units of work, like a database."""

    def __init__(self, committed: State) -> None:
        self.committed = committed

    async def __aenter__(self) -> Self:
        self.working = copy.deepcopy(self.committed)
        self.lots = FakeLots(self.working)
        self.occupancy = FakeOccupancy(self.working)
        self.events: list[dict[str, Any]] = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def emit(self, event: Any) -> dict[str, Any]:
        doc = envelope_of(event)
        validate_event(doc)
        self.events.append(doc)
        return doc

    async def commit(self) -> None:
        self.working.outbox.extend(self.events)
        self.committed.__dict__.update(copy.deepcopy(self.working).__dict__)


def fake_units() -> tuple[State, Any]:
    state = State()
    return state, lambda: FakeUnitOfWork(state)


class FakeChargerView:
    """The EV bays' live view in rows keyed as the SQL tables are, with their upserts' rules:
    the newest status and reading win, a start keeps a close that arrived first."""

    def __init__(self) -> None:
        self.statuses: dict[tuple[str, int], dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.readings: dict[tuple[str, int], dict[str, Any]] = {}

    async def status_changed(self, status: ChargerStatus) -> None:
        key = (status.charger_id, status.evse_id)
        kept = self.statuses.get(key)
        if kept is None or status.at > kept["status_at"]:
            self.statuses[key] = {
                "charger_id": status.charger_id,
                "evse_id": status.evse_id,
                "status": status.status,
                "error_code": status.error_code,
                "status_at": status.at,
            }

    async def session_started(self, started: SessionStarted) -> None:
        row = self.sessions.setdefault(
            started.session_id,
            {
                "session_id": started.session_id,
                "charger_id": started.charger_id,
                "evse_id": started.evse_id,
                "ended_at": None,
                "energy_wh": None,
                "kwh": None,
            },
        )
        row.update(
            started_at=started.started_at,
            meter_start_wh=started.meter_start_wh,
            regnum=started.regnum,
        )

    async def session_closed(self, closed: SessionClosed) -> None:
        row = self.sessions.setdefault(
            closed.session_id,
            {
                "session_id": closed.session_id,
                "charger_id": closed.charger_id,
                "evse_id": closed.evse_id,
                "started_at": closed.started_at,
                "meter_start_wh": None,
                "regnum": closed.regnum,
            },
        )
        row.update(ended_at=closed.ended_at, energy_wh=closed.energy_wh, kwh=closed.kwh)

    async def energy_read(self, readings: list[EnergyReading]) -> None:
        for r in readings:
            key = (r.charger_id, r.evse_id)
            kept = self.readings.get(key)
            if kept is None or r.read_at > kept["read_at"]:
                self.readings[key] = {
                    "charger_id": r.charger_id,
                    "evse_id": r.evse_id,
                    "energy_wh": r.energy_wh,
                    "read_at": r.read_at,
                }
