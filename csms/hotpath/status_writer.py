"""StatusNotifications of many chargers applied in one transaction per batch.

Each report is decided by the domain rule against the charger's connector state, and its
ChargerStatusChanged event commits together with the new state (outbox). The charger is
answered after that commit, so nothing acknowledged is lost.

The connector state of the chargers this process has seen is kept in memory
(`StatusWriter.forget` drops a charger's). While a charger holds its socket here, this process
is the only writer of its connectors, so what it last committed is what the database holds; the
state is read from the database only for a charger not in memory, and dropped (so read again
next time) whenever it could have changed elsewhere:
- the charger connects (it may have been on another node meanwhile) or disconnects;
- it boots, or the REST registry changes or removes it;
- a batch fails (e.g. the charger was removed through another node: the connector write breaks
  the foreign key, and the report, retried alone and read afresh, is refused UnknownCharger).
A memory entry is only replaced by a batch's result after that batch committed, and not at all
when the charger was forgotten while the batch ran.

On PostgreSQL a batch is then one statement, in one round trip: the connectors' upsert and the
outbox rows, `WITH c AS (INSERT INTO connectors ... ON CONFLICT ... DO UPDATE) INSERT INTO
outbox ...`, atomic by itself. SQLite goes through the unit of work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chargepark.db.batcher import Batcher
from chargepark.db.uow import outbox_row
from chargepark.events.envelope import envelope_of
from chargepark.events.registry import validate_event
from csms.adapters.repository import CsmsUnitOfWork, connector_states, save_statuses_with_events
from csms.domain.chargers import Connector, UnknownCharger, report_status

States = dict[str, dict[tuple[int, int], Connector]]


@dataclass(frozen=True, kw_only=True)
class ReportStatus:
    charger_id: str
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    at: datetime
    # Applied only while the connector's kept status is this one (else nothing happens): the
    # charger's connection coming back clears the Offline its closing set, and nothing else.
    only_if: str | None = None


class StatusWriter:
    def __init__(
        self,
        uow: Callable[[], CsmsUnitOfWork],
        *,
        max_batch: int = 500,
        max_pending: int = 5_000,
        max_cached: int = 100_000,
    ) -> None:
        self.uow = uow
        self.max_cached = max_cached
        self._states: States = {}  # charger id -> its connectors, as last committed
        self._forgotten: list[set[str]] = []  # one set per batch in flight
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

    def forget(self, charger_id: str) -> None:
        """Read this charger's connectors from the database at its next report."""
        self._states.pop(charger_id, None)
        for forgotten in self._forgotten:
            forgotten.add(charger_id)

    def cached(self, charger_id: str) -> Mapping[tuple[int, int], Connector] | None:
        return self._states.get(charger_id)

    async def _apply(self, reports: Sequence[ReportStatus]) -> list[Exception | None]:
        forgotten: set[str] = set()
        self._forgotten.append(forgotten)
        try:
            outcomes, states = await self._write(reports)
        except Exception:
            for r in reports:
                self.forget(r.charger_id)
            raise
        finally:
            # By identity: list.remove compares sets by value, and batches in flight often
            # hold equal sets, so it could take another batch's set (which would then miss
            # later forgets, and fail to find its own).
            self._forgotten = [f for f in self._forgotten if f is not forgotten]
        for charger_id, state in states.items():
            if charger_id not in forgotten and (
                charger_id in self._states or len(self._states) < self.max_cached
            ):
                self._states[charger_id] = state
        return outcomes

    async def _write(
        self, reports: Sequence[ReportStatus]
    ) -> tuple[list[Exception | None], States]:
        uow = self.uow()
        ids = {r.charger_id for r in reports}
        # Copies: the memory changes only once the batch has committed.
        states: States = {i: dict(s) for i in ids if (s := self._states.get(i)) is not None}
        missing = sorted(ids - states.keys())
        if uow.db.dialect == "postgresql":
            if missing:
                states.update(await connector_states(uow.db.writer, missing))
            outcomes, latest, events = _decide(reports, states)
            if latest:
                now = uow.clock.now()
                await save_statuses_with_events(
                    uow.db.writer, latest, uow.outbox_table, [outbox_row(e, now) for e in events]
                )
                if events:
                    uow.notify_committed()
            return outcomes, states
        async with uow:
            if missing:
                states.update(await uow.chargers.connector_states(missing))
            outcomes, latest, events = _decide(reports, states)
            for event in events:
                uow.events.append(event)
            await uow.chargers.save_connectors(latest)
            await uow.commit()
        return outcomes, states

    async def close(self) -> None:
        await self._batcher.close()


def _decide(
    reports: Sequence[ReportStatus], states: States
) -> tuple[list[Exception | None], list[tuple[str, Connector]], list[dict[str, Any]]]:
    """Apply the domain rule to each report in arrival order: each one's outcome, the newest
    state of each connector reported, and the events (enveloped and validated), in order."""
    outcomes: list[Exception | None] = []
    latest: dict[tuple[str, int, int], tuple[str, Connector]] = {}
    events: list[dict[str, Any]] = []
    for r in reports:
        connectors = states.get(r.charger_id)
        if connectors is None:
            outcomes.append(UnknownCharger(f"no charger {r.charger_id!r}"))
            continue
        key = (r.evse_id, r.connector_id)
        before = connectors.get(key)
        at = r.at
        if r.only_if is not None:
            if before is None or before.status != r.only_if:
                outcomes.append(None)
                continue
            # Another node's clock may be behind the one that set it: this report is the newer.
            at = max(at, before.status_at)
        event = report_status(r.charger_id, connectors, *key, r.status, r.error_code, r.info, at)
        if connectors[key] is not before:  # not a late, older report
            latest[(r.charger_id, *key)] = (r.charger_id, connectors[key])
        if event is not None:
            doc = envelope_of(event)
            validate_event(doc)
            events.append(doc)
        outcomes.append(None)
    return outcomes, list(latest.values()), events
