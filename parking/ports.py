"""What the parking use cases need from storage. The SQL repositories implement it; the unit
tests' fakes do too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chargepark.ports import Transaction
from parking.domain import Lot, Slot, Stay, Vehicle


class ConnectionLost(ConnectionError):
    """The unit of work lost its database connection before commit: nothing was written, and
    the use case can run again, once, on a new connection. A ConnectionError: when the second
    run fails too (PostgreSQL restarting), the REST edge answers 503 with Retry-After."""


@dataclass(frozen=True)
class ParkContext:
    """What a park reads before it claims a slot, in one round trip."""

    ev_bays_for_ice: bool
    last_action: str | None  # the vehicle's newest event in the lot: PARK | LEAVE | None
    last_ts: datetime | None


class LotRepository(Protocol):
    async def get(self, lot_id: str, *, for_update: bool = False) -> Lot: ...

    async def add(self, lot: Lot) -> None: ...

    async def save(
        self, lot: Lot, *, added: list[Slot], removed: list[int], switched: list[int]
    ) -> None: ...

    async def remove(self, lot_id: str) -> None: ...


class OccupancyRepository(Protocol):
    async def park_context(self, lot_id: str, regnum: str) -> ParkContext: ...

    async def claim_nearest(
        self,
        lot_id: str,
        vehicle: Vehicle,
        order: tuple[bool, ...],
        since: datetime,
        *,
        wait: bool = False,
    ) -> Slot | None:
        """Claim the nearest free slot of the vehicle's kind among `order`'s kinds of slot;
        None when there is none, or another transaction took the one chosen. `wait`: wait for
        a slot another transaction is claiming rather than pass it by."""

    async def claim(self, lot_id: str, slot: Slot, vehicle: Vehicle, since: datetime) -> bool: ...

    async def slot_of(self, lot_id: str, regnum: str) -> int | None: ...

    async def has_free(self, lot_id: str, vehicle: Vehicle, order: tuple[bool, ...]) -> bool: ...

    async def occupied(self, lot_id: str) -> set[int]: ...

    async def release(
        self, lot_id: str, *, regnum: str | None = None, slot_ui: int | None = None
    ) -> Stay | None:
        """Free the slot of the vehicle (or the vehicle in the slot) and return its stay."""

    async def record(self, action: str, stay: Stay, at: datetime, recorded_at: datetime) -> None:
        """Append a PARK or LEAVE to the lot's history."""


class ParkLeaveAtOnce(Protocol):
    """Park and leave, each as one atomic write of the slot, its history row and its event.
    None: nothing was written (an unknown lot, a refusal, a contended last slot...), and the
    use case's general path finds out why."""

    async def park_nearest(
        self, lot_id: str, vehicle: Vehicle, since: datetime, now: datetime
    ) -> Stay | None: ...

    async def leave(
        self, lot_id: str, regnum: str | None, slot_ui: int | None, at: datetime, now: datetime
    ) -> Stay | None: ...


class ParkingUnitOfWork(Transaction, Protocol):
    @property
    def lots(self) -> LotRepository: ...

    @property
    def occupancy(self) -> OccupancyRepository: ...

    def emit(self, event: Any) -> Mapping[str, Any]: ...


# --- the EV bays' live view, kept by the consumers ------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ChargerStatus:
    charger_id: str
    evse_id: int  # 0: the whole charger
    status: str
    error_code: str | None
    at: datetime


@dataclass(frozen=True, kw_only=True)
class SessionStarted:
    session_id: str
    charger_id: str
    evse_id: int
    started_at: datetime
    meter_start_wh: int | None
    regnum: str | None


@dataclass(frozen=True, kw_only=True)
class SessionClosed:
    session_id: str
    charger_id: str
    evse_id: int
    started_at: datetime
    ended_at: datetime
    regnum: str | None
    energy_wh: int
    kwh: str  # exact decimal


@dataclass(frozen=True)
class EnergyReading:
    charger_id: str
    evse_id: int
    energy_wh: int
    read_at: datetime


class ChargerView(Protocol):
    """What csms last said of chargers, sessions and meters. Each write keeps the newest: an
    older status or reading changes nothing, and a start that arrives after its close completes
    the session without reopening it."""

    async def status_changed(self, status: ChargerStatus) -> None: ...

    async def session_started(self, started: SessionStarted) -> None: ...

    async def session_closed(self, closed: SessionClosed) -> None: ...

    async def energy_read(self, readings: list[EnergyReading]) -> None:
        """The newest reading of each connector among `readings`, one per connector."""
