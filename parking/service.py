"""Use cases of the parking service: one method each, one unit of work each.

A park or leave, its history row and its event (VehicleParked / VehicleLeft, into the outbox)
commit together: a crash loses all three or none, and a bus that is down fails nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from chargepark.clock import Clock
from chargepark.errors import Invalid
from parking.allocation import can_take, preference, refusal_detail
from parking.domain import (
    AlreadyParked,
    Fuel,
    Lot,
    LotBusy,
    LotFull,
    LotNotEmpty,
    NotParked,
    Slot,
    SlotUnavailable,
    Stay,
    Vehicle,
    VehicleKind,
    check_lot_id,
    duration_sec,
    event_time,
    normalize_regnum,
)
from parking.ports import ConnectionLost, ParkingUnitOfWork, ParkLeaveAtOnce

# A claim comes back empty only when the slots left are being claimed by other parks at that
# instant; from the second attempt on it waits for one of them to finish, so each round settles
# at least one competitor and a handful of rounds settle even a burst on the last free slots.
MAX_CLAIMS = 16


@dataclass(frozen=True)
class CreateLot:
    id: str
    name: str
    slots: list[Slot]
    ev_bays_for_ice: bool = False


@dataclass(frozen=True, kw_only=True)
class ChangeLot:
    lot_id: str
    name: str | None = None
    ev_bays_for_ice: bool | None = None
    add_slots: list[Slot] = field(default_factory=list)
    remove_slots: list[int] = field(default_factory=list)
    out_of_service: list[int] = field(default_factory=list)
    in_service: list[int] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class ParkVehicle:
    lot_id: str
    regnum: str
    kind: VehicleKind
    fuel: Fuel
    ts: datetime | None = None  # when the gate saw it; default now
    slot_ui: int | None = None  # an attendant's choice; default the nearest free slot
    departure_at: datetime | None = None  # when the driver says they leave (in the future)


@dataclass(frozen=True)
class LeaveLot:
    lot_id: str
    regnum: str | None = None
    slot_ui: int | None = None
    ts: datetime | None = None


@dataclass(frozen=True)
class Left:
    """A finished stay: the vehicle left at `at`."""

    stay: Stay
    at: datetime

    @property
    def duration_sec(self) -> int:
        return duration_sec(self.stay.since, self.at)


class ParkingService:
    """Lots and the park/leave use cases; storage comes in through `uow`, time through `clock`.

    `at_once` (PostgreSQL) parks and leaves in one statement each; whatever it cannot do (it
    then writes nothing) takes the general path through the unit of work, which says why."""

    def __init__(
        self,
        uow: Callable[[], ParkingUnitOfWork],
        clock: Clock,
        at_once: ParkLeaveAtOnce | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.at_once = at_once

    # --- lots -----------------------------------------------------------------------------

    async def create_lot(self, cmd: CreateLot) -> Lot:
        now = self.clock.now()
        lot = Lot(check_lot_id(cmd.id), cmd.name, cmd.ev_bays_for_ice, created_at=now)
        lot.updated_at = now
        lot.add_slots(cmd.slots)
        async with self.uow() as uow:
            await uow.lots.add(lot)
            uow.emit(lot.bays_changed(now))
            await uow.commit()
        return lot

    async def get_lot(self, lot_id: str) -> Lot:
        async with self.uow() as uow:
            return await uow.lots.get(lot_id)

    async def change_lot(self, cmd: ChangeLot) -> Lot:
        overlap = set(cmd.out_of_service) & set(cmd.in_service)
        if overlap:
            raise Invalid(f"slots {sorted(overlap)} cannot be both in and out of service")
        async with self.uow() as uow:
            lot = await uow.lots.get(cmd.lot_id, for_update=True)
            bays = lot.ev_bays()
            if cmd.name is not None:
                lot.name = cmd.name
            if cmd.ev_bays_for_ice is not None:
                lot.ev_bays_for_ice = cmd.ev_bays_for_ice
            if cmd.remove_slots:
                lot.remove_slots(cmd.remove_slots, await uow.occupancy.occupied(lot.id))
            lot.set_in_service(cmd.out_of_service, False)
            lot.set_in_service(cmd.in_service, True)
            lot.add_slots(cmd.add_slots)
            lot.updated_at = self.clock.now()
            if lot.ev_bays() != bays:  # the energy manager's site follows the lot's EV bays
                uow.emit(lot.bays_changed(lot.updated_at))
            await uow.lots.save(
                lot,
                added=cmd.add_slots,
                removed=cmd.remove_slots,
                switched=[*cmd.out_of_service, *cmd.in_service],
            )
            await uow.commit()
        return lot

    async def delete_lot(self, lot_id: str) -> None:
        async with self.uow() as uow:
            lot = await uow.lots.get(lot_id, for_update=True)
            parked = await uow.occupancy.occupied(lot.id)
            if parked:
                raise LotNotEmpty(f"lot {lot_id!r} has {len(parked)} parked vehicle(s)")
            await uow.lots.remove(lot.id)
            lot.slots.clear()
            uow.emit(lot.bays_changed(self.clock.now()))
            await uow.commit()

    # --- park and leave --------------------------------------------------------------------

    async def park(self, cmd: ParkVehicle) -> Stay:
        if cmd.departure_at is not None and cmd.departure_at <= self.clock.now():
            raise Invalid("departure_at must be in the future")
        # The one-statement park carries no declared departure: such a park takes the general
        # path.
        if self.at_once is not None and cmd.slot_ui is None and cmd.departure_at is None:
            vehicle = Vehicle(normalize_regnum(cmd.regnum), cmd.kind, cmd.fuel)
            now = self.clock.now()
            since = event_time(cmd.ts, now, None)  # the previous event is checked in SQL
            try:
                stay = await self.at_once.park_nearest(cmd.lot_id, vehicle, since, now)
            except ConnectionLost:
                stay = None
            if stay is not None:
                return stay
        try:
            return await self._park(cmd)
        except ConnectionLost:  # before commit: nothing written; once more, on a new one
            return await self._park(cmd)

    async def _park(self, cmd: ParkVehicle) -> Stay:
        vehicle = Vehicle(normalize_regnum(cmd.regnum), cmd.kind, cmd.fuel)
        now = self.clock.now()
        async with self.uow() as uow:
            context = await uow.occupancy.park_context(cmd.lot_id, vehicle.regnum)
            if context.last_action == "PARK":
                raise AlreadyParked(vehicle.regnum)
            since = event_time(cmd.ts, now, context.last_ts)
            slot = await self._claim(uow, cmd, vehicle, context.ev_bays_for_ice, since)
            stay = Stay(cmd.lot_id, slot, vehicle, since, departure_at=cmd.departure_at)
            await uow.occupancy.record("PARK", stay, since, now)
            uow.emit(stay.parked())
            await uow.commit()
        return stay

    async def _claim(
        self,
        uow: ParkingUnitOfWork,
        cmd: ParkVehicle,
        vehicle: Vehicle,
        ev_bays_for_ice: bool,
        since: datetime,
    ) -> Slot:
        order = preference(vehicle, ev_bays_for_ice)
        named = None
        if cmd.slot_ui is not None:
            named = (await uow.lots.get(cmd.lot_id)).slot(cmd.slot_ui)
            if not can_take(named, vehicle, ev_bays_for_ice):
                raise SlotUnavailable(_why_not(named, vehicle))
        for attempt in range(MAX_CLAIMS):
            if named is None:
                slot = await uow.occupancy.claim_nearest(
                    cmd.lot_id, vehicle, order, since, wait=attempt > 0
                )
                if slot is not None:
                    return slot
            elif await uow.occupancy.claim(cmd.lot_id, named, vehicle, since):
                return named
            # Nothing claimed: the vehicle is in already (a twin request won), the slot or the
            # lot is full, or a concurrent park took the chosen slot first: then try again.
            where = await uow.occupancy.slot_of(cmd.lot_id, vehicle.regnum)
            if where is not None:
                raise AlreadyParked(vehicle.regnum, where)
            if named is not None:
                raise SlotUnavailable(f"slot {named.slot_ui} is occupied")
            if not await uow.occupancy.has_free(cmd.lot_id, vehicle, order):
                raise LotFull(refusal_detail(vehicle))
        raise LotBusy("too many vehicles are parking at this moment; try again")

    async def leave(self, cmd: LeaveLot) -> Left:
        if self.at_once is not None:
            regnum = normalize_regnum(cmd.regnum) if cmd.regnum is not None else None
            now = self.clock.now()
            at = event_time(cmd.ts, now, None)  # the arrival is checked in SQL
            try:
                stay = await self.at_once.leave(cmd.lot_id, regnum, cmd.slot_ui, at, now)
            except ConnectionLost:
                stay = None
            if stay is not None:
                return Left(stay, at)
        try:
            return await self._leave(cmd)
        except ConnectionLost:  # before commit: nothing written; once more, on a new one
            return await self._leave(cmd)

    async def _leave(self, cmd: LeaveLot) -> Left:
        regnum = normalize_regnum(cmd.regnum) if cmd.regnum is not None else None
        now = self.clock.now()
        async with self.uow() as uow:
            stay = await uow.occupancy.release(cmd.lot_id, regnum=regnum, slot_ui=cmd.slot_ui)
            if stay is None:
                await uow.lots.get(cmd.lot_id)  # an unknown lot is a 404 of its own
                raise NotParked(_not_parked(cmd, regnum))
            at = event_time(cmd.ts, now, stay.since)
            await uow.occupancy.record("LEAVE", stay, at, now)
            uow.emit(stay.left(at))
            await uow.commit()
        return Left(stay, at)


def _why_not(slot: Slot, vehicle: Vehicle) -> str:
    if not slot.in_service:
        return f"slot {slot.slot_ui} is out of service"
    if slot.fits is not vehicle.kind:
        return f"slot {slot.slot_ui} is for a {slot.fits.value}, not a {vehicle.kind.value}"
    return f"slot {slot.slot_ui} is an EV bay; this lot keeps its EV bays for EVs"


def _not_parked(cmd: LeaveLot, regnum: str | None) -> str:
    if regnum is not None and cmd.slot_ui is not None:
        return f"{regnum} is not parked in slot {cmd.slot_ui}"
    if regnum is not None:
        return f"{regnum} is not parked in lot {cmd.lot_id}"
    return f"no vehicle is parked in slot {cmd.slot_ui}"
