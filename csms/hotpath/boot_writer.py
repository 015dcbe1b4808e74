"""BootNotifications of many chargers recorded in one transaction per batch.

A boot storm (a site's power coming back) sends thousands of them at once; one locked
transaction each kept chargers waiting past their timeouts. Each charger is still answered
only after its boot is committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from chargepark.db.batcher import Batcher
from csms.adapters.repository import CsmsUnitOfWork
from csms.domain.chargers import BootInfo, Charger, Registration


@dataclass(frozen=True)
class RecordBoot:
    charger_id: str
    info: BootInfo
    ocpp_version: str
    at: datetime


class BootWriter:
    def __init__(
        self,
        uow: Callable[[], CsmsUnitOfWork],
        unknown_registration: Registration,
        *,
        max_batch: int = 500,
        max_pending: int = 20_000,
    ) -> None:
        self.uow = uow
        self.unknown_registration = unknown_registration  # for ids admitted unregistered
        self._batcher: Batcher[RecordBoot, Registration] = Batcher(
            self._apply, name="boots", max_batch=max_batch, max_pending=max_pending
        )

    async def boot(self, cmd: RecordBoot) -> Registration:
        return await self._batcher.submit(cmd)

    async def _apply(self, boots: Sequence[RecordBoot]) -> list[Registration]:
        async with self.uow() as uow:
            known = await uow.chargers.find_many(
                [b.charger_id for b in boots], for_update=True, with_connectors=False
            )
            new: dict[str, Charger] = {}
            answers = []
            for b in boots:
                charger = known.get(b.charger_id) or new.get(b.charger_id)
                if charger is None:  # admitted under the pending/accept policy
                    charger = Charger(
                        id=b.charger_id,
                        registration=self.unknown_registration,
                        created_at=b.at,
                        updated_at=b.at,
                    )
                    new[b.charger_id] = charger
                answers.append(charger.boot(b.info, b.ocpp_version, b.at))
            await uow.chargers.add_many(list(new.values()))
            await uow.chargers.save_boots(list(known.values()))
            await uow.commit()
        return answers

    async def close(self) -> None:
        await self._batcher.close()
