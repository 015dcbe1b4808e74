"""Alert rules, their evaluation into incidents, and the webhook deliveries of what happened.

An evaluation of a rule looks at the facts since its previous evaluation (and whatever state
they started in), finds when its condition held for longer than its window (ops.domain), and
reconciles that with the rule's incidents in one transaction:

- a condition that holds now opens an incident unless one is open for that rule and subject
  (a unique index on open incidents makes that hold across processes too): no alert storms;
- an open incident whose condition no longer holds is resolved;
- a condition that fired and cleared between two evaluations still gets its incident, opened
  and resolved at once, unless an incident of that rule and subject already covers it.

Each change emits AlertRaised or AlertResolved through the outbox and, when a webhook URL is
configured, queues a delivery in the same transaction. Deliveries are POSTed in order per
incident, retried with exponential backoff until the receiver answers 2xx or the attempts run
out; the receiver may see a delivery twice (a crash between its answer and our commit) and can
drop repeats by the `event_id` in the body.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import and_, delete, exists, insert, select, update
from sqlalchemy.orm import aliased

from chargepark import tracing
from chargepark.clock import Clock, as_utc, isoformat_utc
from chargepark.db.uow import UnitOfWork
from chargepark.errors import NotFound
from ops import domain
from ops.domain import Firing, RuleKind, RuleSpec
from ops.queries import OpsQueries
from ops.store import alert_deliveries, alert_rules, incidents

log = logging.getLogger(__name__)

# After a long pause (the service was down) an evaluation looks back at most this far for
# conditions that fired and cleared meanwhile.
MAX_CATCH_UP = timedelta(days=1)
# A claimed delivery is left to its claimer this long before another process may try it.
DELIVERY_LEASE = timedelta(seconds=60)
DELIVERY_BATCH = 100
DELIVERY_ROUNDS = 5


class UnknownRule(NotFound):
    def __init__(self, rule_id: str) -> None:
        super().__init__(f"no alert rule {rule_id!r}")


class WebhookSender:
    """POSTs a JSON body; True when the receiver answered 2xx."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, url: str, body: str, headers: dict[str, str]) -> tuple[bool, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        attributes = {"http.method": "POST", "http.request.method": "POST"}
        attributes["url.full"] = url.split("?", 1)[0]  # never the query (it may carry a key)
        with tracing.client_span("POST", attributes) as span:
            sent = {"Content-Type": "application/json", **headers}
            tracing.inject(sent)  # the receiver may continue the trace
            try:
                async with self._session.post(url, data=body.encode(), headers=sent) as r:
                    await r.read()
                    if span is not None:
                        span.set_attribute("http.status_code", r.status)
                    return 200 <= r.status < 300, f"HTTP {r.status}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                tracing.set_error(f"{type(exc).__name__}: {exc}")
                return False, f"{type(exc).__name__}: {exc}"[:500]

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class AlertService:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        queries: OpsQueries,
        clock: Clock,
        *,
        webhook_url: str | None = None,
        max_attempts: int = 12,
        retry_base_sec: float = 5.0,
        retry_max_sec: float = 600.0,
        sender: WebhookSender | None = None,
    ) -> None:
        self.uow = uow
        self.queries = queries
        self.clock = clock
        self.webhook_url = webhook_url
        self.max_attempts = max_attempts
        self.retry_base_sec = retry_base_sec
        self.retry_max_sec = retry_max_sec
        self.sender = sender or WebhookSender()

    # --- rules ----------------------------------------------------------------------------

    async def create_rule(self, spec: RuleSpec) -> dict[str, Any]:
        now = self.clock.now()
        row = {
            "id": str(uuid.uuid4()),
            **_columns(spec),
            "created_at": now,
            "updated_at": now,
            "evaluated_at": now,
        }
        async with self.uow() as uow:
            await uow.session.execute(insert(alert_rules).values(row))
            await uow.commit()
        return rule_json(row)

    async def rules(self) -> list[dict[str, Any]]:
        async with self.queries.db.engine.connect() as conn:
            rows = await conn.execute(select(alert_rules).order_by(alert_rules.c.created_at))
            return [rule_json(r._mapping) for r in rows]

    async def rule(self, rule_id: str) -> dict[str, Any]:
        async with self.queries.db.engine.connect() as conn:
            row = (
                await conn.execute(select(alert_rules).where(alert_rules.c.id == rule_id))
            ).first()
        if row is None:
            raise UnknownRule(rule_id)
        return rule_json(row._mapping)

    async def replace_rule(self, rule_id: str, spec: RuleSpec) -> dict[str, Any]:
        """A new definition: its open incidents stay open while the new condition still holds
        for them, and are resolved at the next evaluation when it does not."""
        now = self.clock.now()
        async with self.uow() as uow:
            row = await _locked_rule(uow, rule_id)
            values = {**_columns(spec), "updated_at": now, "evaluated_at": now}
            await uow.session.execute(
                update(alert_rules).where(alert_rules.c.id == rule_id).values(values)
            )
            if not spec.enabled:
                await self._resolve_open(uow, rule_id, now, None, "rule disabled")
            await uow.commit()
        return rule_json({**row._mapping, **values})

    async def delete_rule(self, rule_id: str) -> None:
        """Deletes the rule; its open incidents are resolved (and kept, as are the others)."""
        now = self.clock.now()
        async with self.uow() as uow:
            await _locked_rule(uow, rule_id)
            await self._resolve_open(uow, rule_id, now, None, "rule deleted")
            await uow.session.execute(delete(alert_rules).where(alert_rules.c.id == rule_id))
            await uow.commit()

    # --- evaluation -------------------------------------------------------------------------

    async def test_rule(self, spec: RuleSpec, since: datetime) -> list[Firing]:
        """When the rule would have fired (and cleared) from `since` until now; nothing saved."""
        now = self.clock.now()
        data = await self.queries.rule_data(spec, since, now)
        return [
            f
            for f in domain.evaluate(spec, data, now)
            if f.cleared_at is None or f.cleared_at > since
        ]

    async def evaluate_all(self) -> int:
        """Evaluates every enabled rule; returns how many incidents opened or resolved."""
        async with self.queries.db.engine.connect() as conn:
            ids = [
                r.id
                for r in await conn.execute(
                    select(alert_rules.c.id).where(alert_rules.c.enabled.is_(True))
                )
            ]
        changed = 0
        for rule_id in ids:
            try:
                changed += await self.evaluate(rule_id)
            except Exception:  # one rule's trouble must not keep the others from running
                log.exception("alert rule evaluation failed", extra={"rule_id": rule_id})
        return changed

    async def evaluate(self, rule_id: str) -> int:
        now = self.clock.now()
        changed = 0
        # The facts are read before the transaction: on SQLite every transaction takes the write
        # lock, and the reads use connections of their own.
        async with self.queries.db.engine.connect() as conn:
            seen = (
                await conn.execute(select(alert_rules).where(alert_rules.c.id == rule_id))
            ).first()
        if seen is None or not seen.enabled:
            return 0
        spec = spec_of(seen._mapping)
        since = max(as_utc(seen.evaluated_at), now - MAX_CATCH_UP)
        data = await self.queries.rule_data(spec, since, now)
        found = domain.evaluate(spec, data, now)
        async with self.uow() as uow:
            try:
                rule = await _locked_rule(uow, rule_id)
            except UnknownRule:
                return 0  # deleted meanwhile
            if rule.evaluated_at != seen.evaluated_at or rule.updated_at != seen.updated_at:
                return 0  # evaluated or changed meanwhile: the next run starts from there
            open_rows = await uow.session.execute(
                select(incidents).where(incidents.c.rule_id == rule_id, incidents.c.state == "open")
            )
            still_open = {r.subject: r for r in open_rows}
            for firing in found:
                if firing.active:
                    if firing.subject not in still_open:
                        new = await self._open(uow, rule, spec, firing, now)
                        still_open[firing.subject] = new
                        changed += 1
                    continue
                assert firing.cleared_at is not None
                if firing.cleared_at <= since:
                    continue  # an earlier evaluation saw it clear
                current = still_open.get(firing.subject)
                if current is not None and as_utc(current.condition_since) <= firing.cleared_at:
                    await self._resolve(uow, current, now, firing.cleared_at)
                    del still_open[firing.subject]
                    changed += 1
                elif not await _covered(uow, rule_id, firing):
                    # inserted as resolved: an incident of a newer condition may be open
                    await self._open(uow, rule, spec, firing, now, cleared_at=firing.cleared_at)
                    changed += 2
            active = {f.subject for f in found if f.active}
            for subject, row in still_open.items():
                if subject not in active:
                    await self._resolve(uow, row, now, now)
                    changed += 1
            await uow.session.execute(
                update(alert_rules).where(alert_rules.c.id == rule_id).values(evaluated_at=now)
            )
            await uow.commit()
        return changed

    async def _open(
        self,
        uow: UnitOfWork,
        rule: Any,
        spec: RuleSpec,
        firing: Firing,
        now: datetime,
        *,
        cleared_at: datetime | None = None,
    ) -> Any:
        """Opens an incident (AlertRaised); with `cleared_at`, one whose condition has already
        cleared: it is stored resolved and AlertResolved follows at once."""
        row = {
            "id": str(uuid.uuid4()),
            "rule_id": rule.id,
            "rule_kind": rule.kind,
            "severity": rule.severity,
            "subject": firing.subject[:128],
            "state": "open",
            "message": domain.message_of(spec, firing),
            "condition_since": firing.since,
            "fired_at": firing.fired_at,
            "opened_at": now,
            "cleared_at": None,
            "resolved_at": None,
        }
        stored = row
        if cleared_at is not None:
            stored = {**row, "state": "resolved", "cleared_at": cleared_at, "resolved_at": now}
        await uow.session.execute(insert(incidents).values(stored))
        event = uow.emit(
            {
                "event": "AlertRaised",
                "event_id": str(uuid.uuid4()),
                "schema_version": 1,
                "ts": isoformat_utc(now),
                "correlation_id": None,
                **_event_fields(row),
            }
        )
        await self._queue_delivery(uow, row["id"], event, now)
        log.info("incident opened", extra={"incident_id": row["id"], "subject": row["subject"]})
        if cleared_at is not None:
            await self._resolve(uow, _Row(row), now, cleared_at, store=False)
        return _Row(row)

    async def _resolve(
        self,
        uow: UnitOfWork,
        row: Any,
        now: datetime,
        cleared_at: datetime | None,
        *,
        store: bool = True,
    ) -> None:
        if store:
            await uow.session.execute(
                update(incidents)
                .where(incidents.c.id == row.id)
                .values(state="resolved", cleared_at=cleared_at, resolved_at=now)
            )
        fields = _event_fields(row._mapping)
        event = uow.emit(
            {
                "event": "AlertResolved",
                "event_id": str(uuid.uuid4()),
                "schema_version": 1,
                "ts": isoformat_utc(now),
                "correlation_id": None,
                **fields,
                "opened_at": isoformat_utc(as_utc(row.opened_at)),
                "cleared_at": None if cleared_at is None else isoformat_utc(cleared_at),
            }
        )
        await self._queue_delivery(uow, row.id, event, now)
        log.info("incident resolved", extra={"incident_id": row.id})

    async def _resolve_open(
        self,
        uow: UnitOfWork,
        rule_id: str,
        now: datetime,
        cleared_at: datetime | None,
        reason: str,
    ) -> None:
        rows = await uow.session.execute(
            select(incidents).where(incidents.c.rule_id == rule_id, incidents.c.state == "open")
        )
        for row in rows.all():
            log.info("incident resolved: " + reason, extra={"incident_id": row.id})
            await self._resolve(uow, row, now, cleared_at)

    async def _queue_delivery(
        self, uow: UnitOfWork, incident_id: str, event: dict[str, Any], now: datetime
    ) -> None:
        if not self.webhook_url:
            return
        await uow.session.execute(
            insert(alert_deliveries).values(
                incident_id=incident_id,
                event_id=event["event_id"],
                event_type=event["event"],
                url=self.webhook_url,
                payload=json.dumps(event, separators=(",", ":")),
                state="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )

    # --- incidents ----------------------------------------------------------------------

    async def incidents(
        self, state: str | None, rule_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        query = select(incidents).order_by(incidents.c.opened_at.desc(), incidents.c.id)
        if state is not None:
            query = query.where(incidents.c.state == state)
        if rule_id is not None:
            query = query.where(incidents.c.rule_id == rule_id)
        async with self.queries.db.engine.connect() as conn:
            return [incident_json(r._mapping) for r in await conn.execute(query.limit(limit))]

    async def incident(self, incident_id: str) -> dict[str, Any]:
        async with self.queries.db.engine.connect() as conn:
            row = (
                await conn.execute(select(incidents).where(incidents.c.id == incident_id))
            ).first()
            if row is None:
                raise NotFound(f"no incident {incident_id!r}")
            sent = await conn.execute(
                select(alert_deliveries)
                .where(alert_deliveries.c.incident_id == incident_id)
                .order_by(alert_deliveries.c.id)
            )
            deliveries = [delivery_json(d._mapping) for d in sent]
        return {**incident_json(row._mapping), "deliveries": deliveries}

    # --- webhook deliveries -------------------------------------------------------------

    def backoff(self, attempts: int) -> timedelta:
        delay = min(self.retry_base_sec * 2 ** max(0, attempts - 1), self.retry_max_sec)
        return timedelta(seconds=delay)

    async def deliver_due(self) -> int:
        """Sends the deliveries whose time has come (none of an incident while an earlier one of
        it is pending: a delivery taken lets the next of its incident go in the next round);
        returns how many the receiver took."""
        delivered = 0
        for _round in range(DELIVERY_ROUNDS):
            taken = await self._deliver_round()
            delivered += taken
            if not taken:
                break
        return delivered

    async def _deliver_round(self) -> int:
        now = self.clock.now()
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
            .limit(DELIVERY_BATCH)
        )
        async with self.queries.db.engine.connect() as conn:
            due = (await conn.execute(query)).all()
        delivered = 0
        for row in due:
            if not await self._claim(row, now):
                continue
            ok, outcome = await self.sender.send(
                row.url,
                row.payload,
                {"X-Chargepark-Event": row.event_type, "X-Chargepark-Event-Id": row.event_id},
            )
            await self._record(row, ok, outcome)
            delivered += ok
        return delivered

    async def _claim(self, row: Any, now: datetime) -> bool:
        async with self.uow() as uow:
            result = await uow.session.execute(
                update(alert_deliveries)
                .where(
                    alert_deliveries.c.id == row.id,
                    alert_deliveries.c.state == "pending",
                    alert_deliveries.c.next_attempt_at == row.next_attempt_at,
                )
                .values(next_attempt_at=now + DELIVERY_LEASE)
            )
            await uow.commit()
            return result.rowcount == 1

    async def _record(self, row: Any, ok: bool, outcome: str) -> None:
        now = self.clock.now()
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_error": None if ok else outcome}
        if ok:
            values |= {"state": "delivered", "delivered_at": now, "next_attempt_at": None}
        elif attempts >= self.max_attempts:
            values |= {"state": "failed", "next_attempt_at": None}
            log.error(
                "alert webhook delivery gave up",
                extra={"event_id": row.event_id, "attempts": attempts, "error": outcome},
            )
        else:
            values["next_attempt_at"] = now + self.backoff(attempts)
            log.warning(
                "alert webhook delivery failed; will retry",
                extra={"event_id": row.event_id, "attempts": attempts, "error": outcome},
            )
        async with self.uow() as uow:
            await uow.session.execute(
                update(alert_deliveries).where(alert_deliveries.c.id == row.id).values(values)
            )
            await uow.commit()

    async def close(self) -> None:
        await self.sender.close()


class _Row:
    """An incident just inserted, read like a result row."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._mapping = values

    def __getattr__(self, name: str) -> Any:
        try:
            return self._mapping[name]
        except KeyError:
            raise AttributeError(name) from None


async def _locked_rule(uow: UnitOfWork, rule_id: str) -> Any:
    # FOR UPDATE on PostgreSQL: one process evaluates or changes a rule at a time (SQLite's
    # BEGIN IMMEDIATE already serializes writers).
    row = (
        await uow.session.execute(
            select(alert_rules).where(alert_rules.c.id == rule_id).with_for_update()
        )
    ).first()
    if row is None:
        raise UnknownRule(rule_id)
    return row


async def _covered(uow: UnitOfWork, rule_id: str, firing: Firing) -> bool:
    """An incident of this rule and subject already spans the firing's condition."""
    assert firing.cleared_at is not None
    i = incidents.c
    query = select(i.id).where(
        i.rule_id == rule_id,
        i.subject == firing.subject,
        i.condition_since <= firing.cleared_at,
        (i.cleared_at.is_(None)) | (i.cleared_at >= firing.since),
    )
    return (await uow.session.execute(query.limit(1))).first() is not None


def _columns(spec: RuleSpec) -> dict[str, Any]:
    return {
        "name": spec.name[:200],
        "kind": spec.kind.value,
        "severity": spec.severity,
        "window_sec": spec.window_sec,
        "charger_id": spec.charger_id,
        "lot_id": spec.lot_id,
        "threshold_percent": spec.threshold_percent,
        "ev_only": spec.ev_only,
        "enabled": spec.enabled,
    }


def spec_of(row: Any) -> RuleSpec:
    return RuleSpec(
        kind=RuleKind(row["kind"]),
        window_sec=row["window_sec"],
        name=row["name"],
        severity=row["severity"],
        charger_id=row["charger_id"],
        lot_id=row["lot_id"],
        threshold_percent=row["threshold_percent"],
        ev_only=bool(row["ev_only"]),
        enabled=bool(row["enabled"]),
    )


def _event_fields(row: Any) -> dict[str, Any]:
    return {
        "incident_id": row["id"],
        "rule_id": row["rule_id"],
        "rule_kind": row["rule_kind"],
        "severity": row["severity"],
        "subject": row["subject"],
        "message": row["message"],
    }


def _iso(value: Any) -> str | None:
    return None if value is None else isoformat_utc(as_utc(value))


def rule_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        **spec_of(row).as_json(),
        "created_at": _iso(row["created_at"]),
        "updated_at": _iso(row["updated_at"]),
        "evaluated_at": _iso(row["evaluated_at"]),
    }


def incident_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "rule_id": row["rule_id"],
        "rule_kind": row["rule_kind"],
        "severity": row["severity"],
        "subject": row["subject"],
        "state": row["state"],
        "message": row["message"],
        "condition_since": _iso(row["condition_since"]),
        "fired_at": _iso(row["fired_at"]),
        "opened_at": _iso(row["opened_at"]),
        "cleared_at": _iso(row["cleared_at"]),
        "resolved_at": _iso(row["resolved_at"]),
    }


def delivery_json(row: Any) -> dict[str, Any]:
    return {
        "event_id": row["event_id"],
        "event": row["event_type"],
        "state": row["state"],
        "attempts": row["attempts"],
        "next_attempt_at": _iso(row["next_attempt_at"]),
        "delivered_at": _iso(row["delivered_at"]),
        "last_error": row["last_error"],
    }
