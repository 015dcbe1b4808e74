"""Building energy allocation inputs in tests: demands with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from csms.domain.energy import Demand

T0 = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)  # a Monday evening


def demand(key: str, **fields: Any) -> Demand:
    """An active, smart, three-phase 6-32 A demand of unknown draw and need, started at T0."""
    values: dict[str, Any] = {
        "phases": (1, 2, 3),
        "min_amps": 6.0,
        "max_amps": 32.0,
        "drawn_amps": None,
        "active": True,
        "started_at": T0,
    }
    values.update(fields)
    return Demand(key=key, **values)
