"""Opening and resolving incidents inside a rule's unit of work, each change announced.

Each change emits AlertRaised or AlertResolved through the outbox and, when a webhook URL is
configured, queues a delivery in the same transaction (ops.services.deliveries sends them).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime
from typing import Any

from ops.domain.alerts import Delivery, Incident, Rule, UnknownIncident
from ops.domain.rules import Firing
from ops.ports import AlertReads, OpsUnitOfWork

log = logging.getLogger("ops.alerts")


class IncidentLog:
    """The incidents rules open, and the announcements of their changes."""

    def __init__(self, reads: AlertReads, webhook_url: str | None = None) -> None:
        self.reads = reads
        self.webhook_url = webhook_url

    async def open(
        self,
        uow: OpsUnitOfWork,
        rule: Rule,
        firing: Firing,
        now: datetime,
        *,
        cleared_at: datetime | None = None,
    ) -> Incident:
        """Opens an incident (AlertRaised); with `cleared_at`, one whose condition has already
        cleared: it is stored resolved and AlertResolved follows at once."""
        incident = Incident.of(str(uuid.uuid4()), rule, firing, now)
        stored = incident if cleared_at is None else incident.resolved(cleared_at, now)
        await uow.incidents.add(stored)
        event = uow.emit(incident.raised_event(str(uuid.uuid4()), now))
        await self._queue_delivery(uow, incident.id, event, now)
        log.info("incident opened", extra={"incident_id": incident.id, "subject": incident.subject})
        if cleared_at is not None:
            await self.resolve(uow, incident, now, cleared_at, store=False)
        return incident

    async def resolve(
        self,
        uow: OpsUnitOfWork,
        incident: Incident,
        now: datetime,
        cleared_at: datetime | None,
        *,
        store: bool = True,
    ) -> None:
        if store:
            await uow.incidents.resolve(incident.id, cleared_at, now)
        event = uow.emit(incident.resolved_event(str(uuid.uuid4()), now, cleared_at))
        await self._queue_delivery(uow, incident.id, event, now)
        log.info("incident resolved", extra={"incident_id": incident.id})

    async def resolve_open(
        self,
        uow: OpsUnitOfWork,
        rule_id: str,
        now: datetime,
        cleared_at: datetime | None,
        reason: str,
    ) -> None:
        for incident in await uow.incidents.open_of(rule_id):
            log.info("incident resolved: " + reason, extra={"incident_id": incident.id})
            await self.resolve(uow, incident, now, cleared_at)

    async def _queue_delivery(
        self, uow: OpsUnitOfWork, incident_id: str, event: Any, now: datetime
    ) -> None:
        if not self.webhook_url:
            return
        delivery = Delivery(
            incident_id=incident_id,
            event_id=event["event_id"],
            event_type=event["event"],
            url=self.webhook_url,
            payload=json.dumps(event, separators=(",", ":")),
            next_attempt_at=now,
            created_at=now,
        )
        await uow.deliveries.add(delivery)

    # --- reads ------------------------------------------------------------------------------

    async def incidents(
        self, state: str | None, rule_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        return [i.as_json() for i in await self.reads.incidents(state, rule_id, limit)]

    async def incident(self, incident_id: str) -> dict[str, Any]:
        """An incident with its webhook deliveries."""
        found = await self.reads.incident(incident_id)
        if found is None:
            raise UnknownIncident(incident_id)
        deliveries = [d.as_json() for d in await self.reads.deliveries_of(incident_id)]
        return {**found.as_json(), "deliveries": deliveries}
