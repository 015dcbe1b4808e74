"""The energy manager's events into csms's outbox (one short transaction per batch)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chargepark.db.uow import UnitOfWork


class OutboxEnergyEvents:
    def __init__(self, units: Callable[[], UnitOfWork]) -> None:
        self.units = units

    async def publish(self, events: Sequence[Mapping[str, Any]]) -> None:
        async with self.units() as unit:
            for event in events:
                unit.emit(event)
            await unit.commit()
