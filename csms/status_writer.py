"""StatusNotifications of many chargers applied in one transaction per batch.

Each report is still decided by the domain rule against the stored connector state (read in the
same transaction, so any csms node may hold the charger) and its ChargerStatusChanged event
commits together with the new state (outbox). The charger is answered after that commit, so
nothing acknowledged is lost; what batching removes is the transaction, row lock and round trips
per message that made a status report cost hundreds of milliseconds under load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from chargepark.db.batcher import Batcher
from csms.domain import Connector, UnknownCharger, report_status
from csms.repository import CsmsUnitOfWork


@dataclass(frozen=True)
class ReportStatus:
    charger_id: str
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    at: datetime


class StatusWriter:
    def __init__(
        self, uow: Callable[[], CsmsUnitOfWork], *, max_batch: int = 500, max_pending: int = 5_000
    ) -> None:
        self.uow = uow
        self._batcher: Batcher[ReportStatus, None] = Batcher(
            self._apply,
            name="status-reports",
            max_batch=max_batch,
            max_pending=max_pending,
            # Batches overlap their database round trips; one charger's reports stay in order.
            concurrency=4,
            key=lambda report: report.charger_id,
        )

    async def report(self, cmd: ReportStatus) -> None:
        """Returns once the report is committed; raises UnknownCharger, or Overloaded when too
        many reports wait already."""
        await self._batcher.submit(cmd)

    async def _apply(self, reports: Sequence[ReportStatus]) -> list[Exception | None]:
        async with self.uow() as uow:
            states = await uow.chargers.connector_states([r.charger_id for r in reports])
            outcomes: list[Exception | None] = []
            latest: dict[tuple[str, int, int], tuple[str, Connector]] = {}
            for r in reports:
                connectors = states.get(r.charger_id)
                if connectors is None:
                    outcomes.append(UnknownCharger(f"no charger {r.charger_id!r}"))
                    continue
                key = (r.evse_id, r.connector_id)
                before = connectors.get(key)
                event = report_status(
                    r.charger_id, connectors, *key, r.status, r.error_code, r.info, r.at
                )
                if connectors[key] is not before:  # not a late, older report
                    latest[(r.charger_id, *key)] = (r.charger_id, connectors[key])
                if event is not None:
                    uow.emit(event)
                outcomes.append(None)
            await uow.chargers.save_connectors(list(latest.values()))
            await uow.commit()
        return outcomes

    async def close(self) -> None:
        await self._batcher.close()
