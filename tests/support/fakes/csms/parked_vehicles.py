"""The vehicles on EV bays in memory, with the sessions they would tag."""

from __future__ import annotations

from dataclasses import replace

from csms.domain.sessions import Session
from csms.ports.parked_vehicles import BayStay


class InMemoryParkedVehicles:
    def __init__(self, sessions: list[Session] | None = None) -> None:
        self.stays: dict[tuple[str, str, object], BayStay] = {}
        self.sessions = sessions if sessions is not None else []

    async def arrived(self, stay: BayStay) -> bool:
        known = self.stays.setdefault(_key(stay), stay)
        return known.left_at is None

    async def left(self, stay: BayStay) -> None:
        known = self.stays.get(_key(stay))
        self.stays[_key(stay)] = replace(known, left_at=stay.left_at) if known else stay

    async def tag_sessions(self, charger_id: str, evse_id: int | None, regnum: str) -> None:
        for s in self.sessions:
            if (
                s.charger_id == charger_id
                and s.status in ("pending", "active")
                and s.regnum is None
                and (evse_id is None or s.evse_id == evse_id)
            ):
                s.regnum = regnum


def _key(stay: BayStay) -> tuple[str, str, object]:
    return (stay.lot_id, stay.regnum, stay.arrived_at)
