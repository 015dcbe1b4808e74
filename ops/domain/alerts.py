"""What alert rules leave behind: a stored rule, the incidents it opened, and the webhook
deliveries of their changes; each as the REST API shows it and as its events carry it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from chargepark.clock import isoformat_utc
from chargepark.errors import NotFound
from ops.domain.conditions import message_of
from ops.domain.rules import Firing, RuleSpec

RULE_NAME_MAX = 200
SUBJECT_MAX = 128
OPEN, RESOLVED = "open", "resolved"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


class UnknownRule(NotFound):
    def __init__(self, rule_id: str) -> None:
        super().__init__(f"no alert rule {rule_id!r}")


class UnknownIncident(NotFound):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"no incident {incident_id!r}")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else isoformat_utc(value)


@dataclass(frozen=True, kw_only=True)
class Rule:
    id: str
    spec: RuleSpec
    created_at: datetime
    updated_at: datetime
    # Conditions that fired and cleared after this are still reported on the next evaluation.
    evaluated_at: datetime

    @classmethod
    def new(cls, rule_id: str, spec: RuleSpec, now: datetime) -> Rule:
        return cls(
            id=rule_id,
            spec=stored_spec(spec),
            created_at=now,
            updated_at=now,
            evaluated_at=now,
        )

    def redefined(self, spec: RuleSpec, now: datetime) -> Rule:
        return replace(self, spec=stored_spec(spec), updated_at=now, evaluated_at=now)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.spec.as_json(),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "evaluated_at": _iso(self.evaluated_at),
        }


def stored_spec(spec: RuleSpec) -> RuleSpec:
    return replace(spec, name=spec.name[:RULE_NAME_MAX])


@dataclass(frozen=True, kw_only=True)
class Incident:
    id: str
    rule_id: str
    rule_kind: str
    severity: str
    subject: str
    state: str  # open | resolved
    message: str
    condition_since: datetime  # event time the condition began
    fired_at: datetime  # condition_since + the rule's window
    opened_at: datetime  # when ops opened the incident
    cleared_at: datetime | None = None  # event time the condition ended
    resolved_at: datetime | None = None  # when ops resolved the incident

    @classmethod
    def of(cls, incident_id: str, rule: Rule, firing: Firing, now: datetime) -> Incident:
        return cls(
            id=incident_id,
            rule_id=rule.id,
            rule_kind=rule.spec.kind.value,
            severity=rule.spec.severity,
            subject=firing.subject[:SUBJECT_MAX],
            state=OPEN,
            message=message_of(rule.spec, firing),
            condition_since=firing.since,
            fired_at=firing.fired_at,
            opened_at=now,
        )

    def resolved(self, cleared_at: datetime | None, now: datetime) -> Incident:
        return replace(self, state=RESOLVED, cleared_at=cleared_at, resolved_at=now)

    def event_fields(self) -> dict[str, Any]:
        return {
            "incident_id": self.id,
            "rule_id": self.rule_id,
            "rule_kind": self.rule_kind,
            "severity": self.severity,
            "subject": self.subject,
            "message": self.message,
        }

    def raised_event(self, event_id: str, now: datetime) -> dict[str, Any]:
        return {
            "event": "AlertRaised",
            "event_id": event_id,
            "schema_version": 1,
            "ts": isoformat_utc(now),
            "correlation_id": None,
            **self.event_fields(),
        }

    def resolved_event(
        self, event_id: str, now: datetime, cleared_at: datetime | None
    ) -> dict[str, Any]:
        return {
            "event": "AlertResolved",
            "event_id": event_id,
            "schema_version": 1,
            "ts": isoformat_utc(now),
            "correlation_id": None,
            **self.event_fields(),
            "opened_at": isoformat_utc(self.opened_at),
            "cleared_at": _iso(cleared_at),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule_id": self.rule_id,
            "rule_kind": self.rule_kind,
            "severity": self.severity,
            "subject": self.subject,
            "state": self.state,
            "message": self.message,
            "condition_since": _iso(self.condition_since),
            "fired_at": _iso(self.fired_at),
            "opened_at": _iso(self.opened_at),
            "cleared_at": _iso(self.cleared_at),
            "resolved_at": _iso(self.resolved_at),
        }


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One incident change POSTed to the webhook URL; `id` orders them (None until stored)."""

    id: int | None = None
    incident_id: str
    event_id: str
    event_type: str
    url: str
    payload: str
    state: str = PENDING  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None

    def attempted(
        self, ok: bool, outcome: str, now: datetime, max_attempts: int, backoff: timedelta
    ) -> Delivery:
        """After one more attempt: delivered, failed for good, or due again after `backoff`."""
        attempts = self.attempts + 1
        tried = replace(self, attempts=attempts, last_error=None if ok else outcome)
        if ok:
            return replace(tried, state=DELIVERED, delivered_at=now, next_attempt_at=None)
        if attempts >= max_attempts:
            return replace(tried, state=FAILED, next_attempt_at=None)
        return replace(tried, next_attempt_at=now + backoff)

    def as_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event": self.event_type,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": _iso(self.next_attempt_at),
            "delivered_at": _iso(self.delivered_at),
            "last_error": self.last_error,
        }
