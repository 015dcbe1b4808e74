"""Lot capacities: how many slots a lot has per level, EV bays apart.

Parking's events name the slot a vehicle took, not how many slots the lot has, and ops reads no
other service's tables; so an operator tells ops (`PUT /lots/{lot_id}/capacity`), with counts
per level or with parking's own lot document as it is. Until then that lot's occupancy is shown
in vehicles, without percentages, and occupancy rules skip it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from chargepark.errors import Invalid


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


@dataclass(frozen=True)
class SlotCount:
    """Slots of one kind on one level: what a lot's capacity is kept as."""

    level: str
    ev_bay: bool
    slots: int


def levels_of(body: Mapping[str, Any]) -> list[LevelCapacity]:
    levels = [LevelCapacity.of(level) for level in body["levels"]]
    names = [level.level for level in levels]
    if len(set(names)) != len(names):
        raise Invalid("each level may be named once")
    return levels


def slot_counts(levels: Iterable[LevelCapacity]) -> list[SlotCount]:
    """Per level, its slots that are not EV bays, then its EV bays."""
    counts = []
    for level in levels:
        counts.append(SlotCount(level.level, False, level.slots - level.ev_bays))
        counts.append(SlotCount(level.level, True, level.ev_bays))
    return counts
