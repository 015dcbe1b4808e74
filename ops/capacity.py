"""Lot capacities: how many slots a lot has per level, EV bays apart.

Parking's events name the slot a vehicle took, not how many slots the lot has, and ops reads no
other service's tables; so an operator tells ops (`PUT /lots/{lot_id}/capacity`), with counts
per level or with parking's own lot document as it is. Until then that lot's occupancy is shown
in vehicles, without percentages, and occupancy rules skip it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert

from chargepark.clock import Clock
from chargepark.db.uow import UnitOfWork
from chargepark.errors import Invalid
from ops.store import lot_capacity


@dataclass(frozen=True)
class LevelCapacity:
    level: str
    slots: int  # every slot in service, EV bays included
    ev_bays: int

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> LevelCapacity:
        slots = body["slots"]
        if isinstance(slots, list):  # parking's slot documents
            in_service = [s for s in slots if s.get("in_service", True)]
            return cls(
                body["level"], len(in_service), sum(bool(s.get("ev_bay")) for s in in_service)
            )
        ev_bays = body.get("ev_bays", 0)
        if ev_bays > slots:
            raise Invalid(f"level {body['level']!r}: more EV bays than slots")
        return cls(body["level"], slots, ev_bays)


def levels_of(body: Mapping[str, Any]) -> list[LevelCapacity]:
    levels = [LevelCapacity.of(level) for level in body["levels"]]
    names = [level.level for level in levels]
    if len(set(names)) != len(names):
        raise Invalid("each level may be named once")
    return levels


class LotCapacities:
    def __init__(self, uow: Callable[[], UnitOfWork], clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def replace(self, lot_id: str, levels: Iterable[LevelCapacity]) -> None:
        now = self.clock.now()
        rows = []
        for level in levels:
            rows.append((level.level, False, level.slots - level.ev_bays))
            rows.append((level.level, True, level.ev_bays))
        async with self.uow() as uow:
            await uow.session.execute(delete(lot_capacity).where(lot_capacity.c.lot_id == lot_id))
            await uow.session.execute(
                insert(lot_capacity),
                [
                    {"lot_id": lot_id, "level": lv, "ev_bay": ev, "slots": n, "updated_at": now}
                    for lv, ev, n in rows
                ],
            )
            await uow.commit()
