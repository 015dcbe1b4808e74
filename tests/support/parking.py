"""Builders of parking test data."""

from __future__ import annotations

from typing import Any

from parking.domain import Slot, VehicleKind


def a_slot(slot_ui: int, level: str = "L0", **overrides: Any) -> Slot:
    fields: dict[str, Any] = {"level_rank": 0, "fits": VehicleKind.CAR}
    fields.update(overrides)
    if fields.get("ev_bay"):
        fields.setdefault("charger_id", f"CP-{slot_ui}")
        fields.setdefault("connector_id", 1)
    return Slot(slot_ui=slot_ui, level=level, **fields)
