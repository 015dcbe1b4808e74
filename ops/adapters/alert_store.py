"""Alert rules, incidents and webhook deliveries in SQL: the repositories a unit of work
writes through (ops.ports), and the reads made on connections of their own (SqlAlertReads)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, exists, insert, select, update
from sqlalchemy.orm import aliased

from chargepark.db.engine import Database
from chargepark.db.uow import UnitOfWork
from ops.adapters.rows import (
    delivery_of,
    incident_columns,
    incident_of,
    rule_columns,
    rule_of,
    spec_columns,
)
from ops.domain.alerts import OPEN, RESOLVED, Delivery, Incident, Rule, UnknownRule
from ops.store import alert_deliveries, alert_rules, incidents


class SqlRules:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def add(self, rule: Rule) -> None:
        await self.uow.session.execute(insert(alert_rules).values(rule_columns(rule)))

    async def locked(self, rule_id: str) -> Rule:
        # FOR UPDATE on PostgreSQL: one process evaluates or changes a rule at a time (SQLite's
        # BEGIN IMMEDIATE already serializes writers).
        query = select(alert_rules).where(alert_rules.c.id == rule_id).with_for_update()
        row = (await self.uow.session.execute(query)).first()
        if row is None:
            raise UnknownRule(rule_id)
        return rule_of(row)

    async def save(self, rule: Rule) -> None:
        values = {
            **spec_columns(rule.spec),
            "updated_at": rule.updated_at,
            "evaluated_at": rule.evaluated_at,
        }
        await self.uow.session.execute(
            update(alert_rules).where(alert_rules.c.id == rule.id).values(values)
        )

    async def evaluated(self, rule_id: str, at: datetime) -> None:
        await self.uow.session.execute(
            update(alert_rules).where(alert_rules.c.id == rule_id).values(evaluated_at=at)
        )

    async def remove(self, rule_id: str) -> None:
        await self.uow.session.execute(delete(alert_rules).where(alert_rules.c.id == rule_id))


class SqlIncidents:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def open_of(self, rule_id: str) -> list[Incident]:
        query = select(incidents).where(incidents.c.rule_id == rule_id, incidents.c.state == OPEN)
        return [incident_of(r) for r in await self.uow.session.execute(query)]

    async def add(self, incident: Incident) -> None:
        await self.uow.session.execute(insert(incidents).values(incident_columns(incident)))

    async def resolve(
        self, incident_id: str, cleared_at: datetime | None, resolved_at: datetime
    ) -> None:
        await self.uow.session.execute(
            update(incidents)
            .where(incidents.c.id == incident_id)
            .values(state=RESOLVED, cleared_at=cleared_at, resolved_at=resolved_at)
        )

    async def covers(
        self, rule_id: str, subject: str, since: datetime, cleared_at: datetime
    ) -> bool:
        i = incidents.c
        query = select(i.id).where(
            i.rule_id == rule_id,
            i.subject == subject,
            i.condition_since <= cleared_at,
            (i.cleared_at.is_(None)) | (i.cleared_at >= since),
        )
        return (await self.uow.session.execute(query.limit(1))).first() is not None


class SqlDeliveries:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def add(self, delivery: Delivery) -> None:
        await self.uow.session.execute(
            insert(alert_deliveries).values(
                incident_id=delivery.incident_id,
                event_id=delivery.event_id,
                event_type=delivery.event_type,
                url=delivery.url,
                payload=delivery.payload,
                state=delivery.state,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
                created_at=delivery.created_at,
            )
        )

    async def claim(self, delivery: Delivery, until: datetime) -> bool:
        d = alert_deliveries.c
        result = await self.uow.session.execute(
            update(alert_deliveries)
            .where(
                d.id == delivery.id,
                d.state == "pending",
                d.next_attempt_at == delivery.next_attempt_at,
            )
            .values(next_attempt_at=until)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]  # a CursorResult

    async def save(self, delivery: Delivery) -> None:
        await self.uow.session.execute(
            update(alert_deliveries)
            .where(alert_deliveries.c.id == delivery.id)
            .values(
                state=delivery.state,
                attempts=delivery.attempts,
                next_attempt_at=delivery.next_attempt_at,
                last_error=delivery.last_error,
                delivered_at=delivery.delivered_at,
            )
        )


class SqlAlertReads:
    """Reads on connections of their own, outside any unit of work."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def rules(self) -> list[Rule]:
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(select(alert_rules).order_by(alert_rules.c.created_at))
            return [rule_of(r) for r in rows]

    async def rule(self, rule_id: str) -> Rule | None:
        async with self.db.engine.connect() as conn:
            query = select(alert_rules).where(alert_rules.c.id == rule_id)
            row = (await conn.execute(query)).first()
        return None if row is None else rule_of(row)

    async def enabled_rule_ids(self) -> list[str]:
        query = select(alert_rules.c.id).where(alert_rules.c.enabled.is_(True))
        async with self.db.engine.connect() as conn:
            return [r.id for r in await conn.execute(query)]

    async def incidents(self, state: str | None, rule_id: str | None, limit: int) -> list[Incident]:
        query = select(incidents).order_by(incidents.c.opened_at.desc(), incidents.c.id)
        if state is not None:
            query = query.where(incidents.c.state == state)
        if rule_id is not None:
            query = query.where(incidents.c.rule_id == rule_id)
        async with self.db.engine.connect() as conn:
            return [incident_of(r) for r in await conn.execute(query.limit(limit))]

    async def incident(self, incident_id: str) -> Incident | None:
        async with self.db.engine.connect() as conn:
            query = select(incidents).where(incidents.c.id == incident_id)
            row = (await conn.execute(query)).first()
        return None if row is None else incident_of(row)

    async def deliveries_of(self, incident_id: str) -> list[Delivery]:
        query = (
            select(alert_deliveries)
            .where(alert_deliveries.c.incident_id == incident_id)
            .order_by(alert_deliveries.c.id)
        )
        async with self.db.engine.connect() as conn:
            return [delivery_of(r) for r in await conn.execute(query)]

    async def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        d = alert_deliveries.c
        earlier = aliased(alert_deliveries)
        query = (
            select(alert_deliveries)
            .where(
                d.state == "pending",
                d.next_attempt_at <= now,
                ~exists().where(
                    and_(
                        earlier.c.incident_id == d.incident_id,
                        earlier.c.id < d.id,
                        earlier.c.state == "pending",
                    )
                ),
            )
            .order_by(d.id)
            .limit(limit)
        )
        async with self.db.engine.connect() as conn:
            return [delivery_of(r) for r in (await conn.execute(query)).all()]
