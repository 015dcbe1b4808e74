"""What csms keeps of parking's vehicles on EV bays, written in the event's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, kw_only=True)
class BayStay:
    """One vehicle's stay on a bay, keyed by (lot, regnum, arrival)."""

    lot_id: str
    regnum: str
    arrived_at: datetime
    slot_ui: str
    charger_id: str | None
    evse_id: int | None
    left_at: datetime | None = None
    departure_at: datetime | None = None  # the driver's declared departure, if any


class ParkedVehicles(Protocol):
    async def arrived(self, stay: BayStay) -> bool:
        """Record the stay unless it is known; whether the vehicle is still there (a
        VehicleLeft that overtook the park event has ended it already)."""
        ...

    async def left(self, stay: BayStay) -> None:
        """Record the stay as ended at `stay.left_at`, known or not."""
        ...

    async def tag_sessions(self, charger_id: str, evse_id: int | None, regnum: str) -> None:
        """Pending and active sessions on the charger (on that EVSE, unless None) that have no
        regnum get this one."""
        ...
