"""Lot capacities as an operator sets them (ops.domain.capacity says why ops needs them)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from chargepark.clock import Clock
from ops.domain.capacity import LevelCapacity, slot_counts
from ops.ports import OpsUnitOfWork


class LotCapacities:
    def __init__(self, uow: Callable[[], OpsUnitOfWork], clock: Clock) -> None:
        self.uow = uow
        self.clock = clock

    async def replace(self, lot_id: str, levels: Iterable[LevelCapacity]) -> None:
        now = self.clock.now()
        async with self.uow() as uow:
            await uow.capacities.replace(lot_id, slot_counts(levels), now)
            await uow.commit()
