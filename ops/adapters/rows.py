"""ops' records from and to the rows of its tables (ops.store)."""

from __future__ import annotations

from typing import Any

from chargepark.clock import as_utc
from ops.domain import RuleKind, RuleSpec, Stay
from ops.domain.alerts import Delivery, Incident, Rule
from ops.domain.facts import InvoiceFact, SessionFact


def _utc(value: Any) -> Any:
    return None if value is None else as_utc(value)


def spec_columns(spec: RuleSpec) -> dict[str, Any]:
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
        "tolerance_amps": spec.tolerance_amps,
    }


def rule_columns(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        **spec_columns(rule.spec),
        "created_at": rule.created_at,
        "updated_at": rule.updated_at,
        "evaluated_at": rule.evaluated_at,
    }


def rule_of(row: Any) -> Rule:
    spec = RuleSpec(
        kind=RuleKind(row.kind),
        window_sec=row.window_sec,
        name=row.name,
        severity=row.severity,
        charger_id=row.charger_id,
        lot_id=row.lot_id,
        threshold_percent=row.threshold_percent,
        ev_only=bool(row.ev_only),
        enabled=bool(row.enabled),
        tolerance_amps=row.tolerance_amps,
    )
    return Rule(
        id=row.id,
        spec=spec,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        evaluated_at=as_utc(row.evaluated_at),
    )


INCIDENT_COLUMNS = (
    "id",
    "rule_id",
    "rule_kind",
    "severity",
    "subject",
    "state",
    "message",
    "condition_since",
    "fired_at",
    "opened_at",
    "cleared_at",
    "resolved_at",
)


def incident_columns(incident: Incident) -> dict[str, Any]:
    return {name: getattr(incident, name) for name in INCIDENT_COLUMNS}


def incident_of(row: Any) -> Incident:
    return Incident(
        id=row.id,
        rule_id=row.rule_id,
        rule_kind=row.rule_kind,
        severity=row.severity,
        subject=row.subject,
        state=row.state,
        message=row.message,
        condition_since=as_utc(row.condition_since),
        fired_at=as_utc(row.fired_at),
        opened_at=as_utc(row.opened_at),
        cleared_at=_utc(row.cleared_at),
        resolved_at=_utc(row.resolved_at),
    )


def delivery_of(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        incident_id=row.incident_id,
        event_id=row.event_id,
        event_type=row.event_type,
        url=row.url,
        payload=row.payload,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=_utc(row.next_attempt_at),
        last_error=row.last_error,
        created_at=as_utc(row.created_at),
        delivered_at=_utc(row.delivered_at),
    )


def session_of(row: Any) -> SessionFact:
    return SessionFact(
        session_id=row.session_id,
        charger_id=row.charger_id,
        evse_id=row.evse_id,
        connector_id=row.connector_id,
        started_at=as_utc(row.started_at),
        meter_start_wh=row.meter_start_wh,
        ended_at=_utc(row.ended_at),
        energy_wh=row.energy_wh,
    )


def invoice_of(row: Any) -> InvoiceFact:
    return InvoiceFact(
        invoice_id=row.invoice_id,
        currency=row.currency,
        total_minor=row.total_minor,
        issued_at=_utc(row.issued_at),
        amount_paid_minor=row.amount_paid_minor,
        paid_at=_utc(row.paid_at),
    )


def stay_of(r: Any) -> Stay:
    return Stay(
        arrived_at=as_utc(r.arrived_at),
        left_at=_utc(r.left_at),
        level=r.level,
        ev_bay=bool(r.ev_bay),
        charger_id=r.charger_id,
        connector_id=r.connector_id,
        lot_id=r.lot_id,
    )
