"""ops' unit of work on SQL: the kernel's (a transaction and its outbox) with ops' repositories."""

from __future__ import annotations

from typing import Self

from chargepark.db.uow import UnitOfWork
from ops.adapters.alert_store import SqlDeliveries, SqlIncidents, SqlRules
from ops.adapters.facts import SqlCapacities, SqlFacts


class SqlOpsUnitOfWork(UnitOfWork):
    rules: SqlRules
    incidents: SqlIncidents
    deliveries: SqlDeliveries
    facts: SqlFacts
    capacities: SqlCapacities

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.rules = SqlRules(self)
        self.incidents = SqlIncidents(self)
        self.deliveries = SqlDeliveries(self)
        self.facts = SqlFacts(self)
        self.capacities = SqlCapacities(self)
        return self
