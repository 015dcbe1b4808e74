"""Parking's vocabulary and rules: lots, levels and slots, vehicles, stays and their events.

Pure: no I/O. Times are passed in; the service reads the clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from chargepark.errors import Conflict, Invalid, NotFound
from chargepark.events.envelope import DomainEvent

MAX_REGNUM = 16
LOT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"
MAX_NAME = 200
MAX_LEVEL_NAME = 32
MAX_CHARGER_ID = 48  # csms's limit on a charger's OCPP identity
MAX_SLOT_UI = 999_999
MAX_SLOTS_PER_LOT = 10_000

_REGNUM = re.compile(r"[A-Z0-9]{1,16}")
# What normalize_regnum accepts, for request schemas: 1 to 16 letters and digits, with spaces
# and dashes anywhere (they are dropped).
REGNUM_PATTERN = r"^[ -]*(?:[A-Za-z0-9][ -]*){1,16}$"
_LOT_ID = re.compile(LOT_ID_PATTERN)


class VehicleKind(StrEnum):
    CAR = "CAR"
    MOTORCYCLE = "MOTORCYCLE"
    VAN = "VAN"


class Fuel(StrEnum):
    EV = "EV"
    ICE = "ICE"


# --- errors: each carries the seed's `ok: false` and a message a gate display can show --------


class _Refusal:
    """Mixin: park/leave refusals answer `{ok: false, message}` inside their problem+json."""

    message = ""

    @property
    def extra(self) -> dict[str, Any]:
        return {"ok": False, "message": self.message or str(self)}


class UnknownLot(_Refusal, NotFound):
    message = "unknown lot"

    def __init__(self, lot_id: str) -> None:
        super().__init__(f"no lot {lot_id!r}")


class LotExists(Conflict):
    def __init__(self, lot_id: str) -> None:
        super().__init__(f"lot {lot_id!r} exists already")


class LotNotEmpty(Conflict):
    pass


class UnknownSlot(_Refusal, NotFound):
    message = "unknown slot"

    def __init__(self, lot_id: str, slot_ui: int) -> None:
        super().__init__(f"lot {lot_id!r} has no slot {slot_ui}")


class LotFull(_Refusal, Conflict):
    message = "lot full"


class LotBusy(_Refusal, Conflict):
    """Every claim lost a race: so many parks at once that the caller should simply retry."""

    message = "lot busy, try again"


class AlreadyParked(_Refusal, Conflict):
    message = "vehicle already parked"

    def __init__(self, regnum: str, slot_ui: int | None = None) -> None:
        where = f" in slot {slot_ui}" if slot_ui is not None else ""
        super().__init__(f"{regnum} is already parked in this lot{where}")


class SlotUnavailable(_Refusal, Conflict):
    """An attendant named a slot that cannot take this vehicle now."""

    message = "slot unavailable"


class NotParked(_Refusal, NotFound):
    message = "vehicle not found"


class OutOfOrder(_Refusal, Conflict):
    """An event time before the vehicle's previous event: durations would go negative."""

    message = "event time before the vehicle's previous event"


class SlotOccupied(Conflict):
    pass


class BayTaken(Conflict):
    pass


# --- values ---------------------------------------------------------------------------------


def normalize_regnum(raw: str) -> str:
    """`ab-123 c` -> `AB123C`, the one spelling events carry (VehicleParked's schema)."""
    regnum = raw.replace(" ", "").replace("-", "").upper()
    if not regnum.isascii() or not _REGNUM.fullmatch(regnum):
        raise Invalid(
            f"regnum {raw[:40]!r} is not a registration number "
            f"(1 to {MAX_REGNUM} letters A-Z and digits; spaces and dashes are ignored)"
        )
    return regnum


def check_lot_id(lot_id: str) -> str:
    if not _LOT_ID.fullmatch(lot_id):
        raise Invalid("a lot id is 1 to 32 letters, digits, '_' or '-', starting alphanumeric")
    return lot_id


def event_time(ts: datetime | None, now: datetime, previous: datetime | None) -> datetime:
    """When a park or leave happened: the gate's time if it sent one, else now. Never in the
    future (a clock gone wrong), never before the vehicle's previous event (a duration would
    go negative); a late-recorded entry is otherwise fine."""
    at = now if ts is None else ts
    if at > now:
        raise Invalid(f"ts {at.isoformat()} is in the future")
    if previous is not None and at < previous:
        raise OutOfOrder(
            f"ts {at.isoformat()} is before the vehicle's previous event at {previous.isoformat()}"
        )
    return at


@dataclass(frozen=True)
class Vehicle:
    regnum: str
    kind: VehicleKind
    fuel: Fuel


@dataclass
class Slot:
    slot_ui: int  # the number drivers see; unique in its lot
    level: str
    level_rank: int  # 0 = the lowest level: allocation prefers it
    fits: VehicleKind
    ev_bay: bool = False
    charger_id: str | None = None
    connector_id: int | None = None  # OCPP 1.6 connectorId = 2.0.1 EVSE id
    in_service: bool = True

    def check(self) -> None:
        if not 1 <= self.slot_ui <= MAX_SLOT_UI:
            raise Invalid(f"slot_ui must be from 1 to {MAX_SLOT_UI}")
        if self.ev_bay and (self.charger_id is None or self.connector_id is None):
            raise Invalid(f"EV bay {self.slot_ui} must name its charger_id and connector_id")
        if not self.ev_bay and (self.charger_id is not None or self.connector_id is not None):
            raise Invalid(f"slot {self.slot_ui} is not an EV bay: it has no charger")


@dataclass
class Lot:
    id: str
    name: str
    ev_bays_for_ice: bool = False
    slots: dict[int, Slot] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def levels(self) -> list[str]:
        """Level names, lowest first."""
        ranks = {s.level: s.level_rank for s in self.slots.values()}
        return sorted(ranks, key=lambda name: ranks[name])

    def add_slots(self, new: list[Slot]) -> None:
        """New slots; a level not in the lot yet becomes its highest."""
        ranks = {s.level: s.level_rank for s in self.slots.values()}
        for slot in new:
            slot.check()
            if slot.slot_ui in self.slots:
                raise Invalid(f"slot_ui {slot.slot_ui} is used twice in lot {self.id}")
            if slot.level not in ranks:
                ranks[slot.level] = max(ranks.values(), default=-1) + 1
            slot.level_rank = ranks[slot.level]
            self.slots[slot.slot_ui] = slot
        bays = [(s.charger_id, s.connector_id) for s in self.slots.values() if s.ev_bay]
        if len(bays) != len(set(bays)):
            raise Invalid("two EV bays name the same charger_id and connector_id")
        if len(self.slots) > MAX_SLOTS_PER_LOT:
            raise Invalid(f"a lot has at most {MAX_SLOTS_PER_LOT} slots")

    def remove_slots(self, slot_uis: list[int], occupied: set[int]) -> None:
        for slot_ui in slot_uis:
            self.slot(slot_ui)
            if slot_ui in occupied:
                raise SlotOccupied(f"slot {slot_ui} is occupied: it cannot be removed")
        for slot_ui in slot_uis:
            del self.slots[slot_ui]

    def set_in_service(self, slot_uis: list[int], in_service: bool) -> None:
        """Out of service: no vehicle is given the slot; one parked there stays until it leaves."""
        for slot_ui in slot_uis:
            self.slot(slot_ui).in_service = in_service

    def ev_bays(self) -> list[dict[str, Any]]:
        """The lot's EV bays and their chargers, by slot."""
        return [
            {"slot_ui": str(s.slot_ui), "charger_id": s.charger_id, "connector_id": s.connector_id}
            for s in sorted(self.slots.values(), key=lambda s: s.slot_ui)
            if s.ev_bay and s.charger_id
        ]

    def bays_changed(self, at: datetime) -> LotBaysChanged:
        return LotBaysChanged(lot_id=self.id, ts=at, bays=self.ev_bays())

    def slot(self, slot_ui: int) -> Slot:
        slot = self.slots.get(slot_ui)
        if slot is None:
            raise UnknownSlot(self.id, slot_ui)
        return slot


@dataclass(frozen=True)
class Stay:
    """A vehicle in a slot, from `since` (the park event's time)."""

    lot_id: str
    slot: Slot
    vehicle: Vehicle
    since: datetime
    departure_at: datetime | None = None  # declared by the driver when parking

    def parked(self) -> VehicleParked:
        return VehicleParked(
            departure_at=self.departure_at,
            lot_id=self.lot_id,
            level=self.slot.level,
            slot_ui=str(self.slot.slot_ui),
            regnum=self.vehicle.regnum,
            kind=self.vehicle.kind,
            fuel=self.vehicle.fuel,
            charger_id=self.slot.charger_id,
            connector_id=self.slot.connector_id,
            ts=self.since,
        )

    def left(self, at: datetime) -> VehicleLeft:
        return VehicleLeft(
            lot_id=self.lot_id,
            level=self.slot.level,
            slot_ui=str(self.slot.slot_ui),
            regnum=self.vehicle.regnum,
            kind=self.vehicle.kind,
            fuel=self.vehicle.fuel,
            charger_id=self.slot.charger_id,
            connector_id=self.slot.connector_id,
            arrived_at=self.since,
            duration_sec=duration_sec(self.since, at),
            ts=at,
        )


def duration_sec(since: datetime, until: datetime) -> int:
    return max(0, int((until - since).total_seconds()))


@dataclass(frozen=True, kw_only=True)
class VehicleParked(DomainEvent):
    name = "VehicleParked"
    lot_id: str
    level: str
    slot_ui: str
    regnum: str
    kind: VehicleKind
    fuel: Fuel
    charger_id: str | None
    connector_id: int | None
    ts: datetime
    departure_at: datetime | None = None

    def fields(self) -> dict[str, Any]:
        fields = super().fields()
        if fields["departure_at"] is None:  # optional: absent rather than null
            del fields["departure_at"]
        return fields


@dataclass(frozen=True, kw_only=True)
class VehicleLeft(DomainEvent):
    name = "VehicleLeft"
    lot_id: str
    level: str
    slot_ui: str
    regnum: str
    kind: VehicleKind
    fuel: Fuel
    charger_id: str | None
    connector_id: int | None
    arrived_at: datetime
    duration_sec: int
    ts: datetime


@dataclass(frozen=True, kw_only=True)
class LotBaysChanged(DomainEvent):
    """A lot's EV bays and their chargers, whole, after it was created or its layout changed
    (csms's energy manager takes a lot's bays' chargers as its site's)."""

    name = "LotBaysChanged"
    lot_id: str
    ts: datetime
    bays: list[dict[str, Any]]
