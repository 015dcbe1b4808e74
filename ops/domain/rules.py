"""Alert rules: their definition, and when a raw condition held long enough to fire."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from chargepark.errors import Invalid


class RuleKind(StrEnum):
    CHARGER_FAULTED = "charger_faulted"  # a connector Faulted longer than the window
    CHARGER_OFFLINE = "charger_offline"  # reported Offline longer than the window
    OCCUPANCY_HIGH = "occupancy_high"  # above threshold_percent for the window
    BAY_IDLE = "bay_idle"  # a vehicle in a charger's bay and no session, for the window
    INVOICE_UNPAID = "invoice_unpaid"  # issued and not paid within the window
    # lot energy management (the energy manager's events)
    SITE_OVER_LIMIT = "site_over_limit"  # a site drew more than its limit on a phase
    CHARGER_OVER_LIMIT = "charger_over_limit"  # a charger drew more than its limit
    SMART_CHARGING_REFUSED = "smart_charging_refused"  # a charger cannot be controlled


CHARGER_KINDS = (
    RuleKind.CHARGER_FAULTED,
    RuleKind.CHARGER_OFFLINE,
    RuleKind.BAY_IDLE,
    RuleKind.CHARGER_OVER_LIMIT,
    RuleKind.SMART_CHARGING_REFUSED,
)
# lot_id filters these (a site's id is its lot's id)
LOT_KINDS = (
    RuleKind.OCCUPANCY_HIGH,
    RuleKind.SITE_OVER_LIMIT,
    RuleKind.CHARGER_OVER_LIMIT,
    RuleKind.SMART_CHARGING_REFUSED,
)
TOLERANCE_KINDS = (RuleKind.SITE_OVER_LIMIT, RuleKind.CHARGER_OVER_LIMIT)
# A charger's default tolerance: meters round, and a car takes a moment to follow a new limit
# (the window covers the moment; this covers the rounding). A site's limit has the energy
# manager's margin inside it already: its default is 0.
CHARGER_TOLERANCE_AMPS = 1.0


SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class RuleSpec:
    """An alert rule's definition: what it watches and for how long the condition must hold."""

    kind: RuleKind
    window_sec: int
    name: str = ""
    severity: str = "warning"
    charger_id: str | None = None  # charger rules: only this charger
    lot_id: str | None = None  # occupancy: only this lot
    threshold_percent: float | None = None  # occupancy
    ev_only: bool = False  # occupancy: the EV bays only
    enabled: bool = True
    tolerance_amps: float | None = None  # over-limit rules: amps above the limit tolerated

    @property
    def tolerance(self) -> float:
        """The tolerance in force: the rule's, else its kind's default."""
        if self.tolerance_amps is not None:
            return self.tolerance_amps
        return CHARGER_TOLERANCE_AMPS if self.kind is RuleKind.CHARGER_OVER_LIMIT else 0.0

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> RuleSpec:
        try:
            kind = RuleKind(body["kind"])
        except (KeyError, ValueError):
            raise Invalid(f"kind must be one of {', '.join(k.value for k in RuleKind)}") from None
        spec = cls(
            kind=kind,
            window_sec=int(body["window_sec"]),
            name=body.get("name") or kind.value,
            severity=body.get("severity", "warning"),
            charger_id=body.get("charger_id"),
            lot_id=body.get("lot_id"),
            threshold_percent=body.get("threshold_percent"),
            ev_only=bool(body.get("ev_only", False)),
            enabled=bool(body.get("enabled", True)),
            tolerance_amps=body.get("tolerance_amps"),
        )
        spec.check()
        return spec

    def check(self) -> None:
        if self.severity not in SEVERITIES:
            raise Invalid(f"severity must be one of {', '.join(SEVERITIES)}")
        if self.kind is RuleKind.OCCUPANCY_HIGH:
            if self.threshold_percent is None:
                raise Invalid("an occupancy_high rule needs threshold_percent")
        elif self.threshold_percent is not None or self.ev_only:
            raise Invalid("threshold_percent and ev_only are for occupancy_high rules")
        if self.charger_id is not None and self.kind not in CHARGER_KINDS:
            raise Invalid("charger_id filters " + ", ".join(CHARGER_KINDS) + " rules")
        if self.lot_id is not None and self.kind not in LOT_KINDS:
            raise Invalid("lot_id filters " + ", ".join(LOT_KINDS) + " rules")
        if self.tolerance_amps is not None and self.kind not in TOLERANCE_KINDS:
            raise Invalid("tolerance_amps is for site_over_limit and charger_over_limit rules")

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_sec)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "window_sec": self.window_sec,
            "severity": self.severity,
            "charger_id": self.charger_id,
            "lot_id": self.lot_id,
            "threshold_percent": self.threshold_percent,
            "ev_only": self.ev_only,
            "enabled": self.enabled,
            "tolerance_amps": self.tolerance_amps,
        }


@dataclass(frozen=True)
class Span:
    """A time the raw condition held for a subject; end None: it still holds."""

    subject: str
    start: datetime
    end: datetime | None
    detail: str = ""


@dataclass(frozen=True)
class Firing:
    """The condition held for the rule's window: fired at `fired_at`; cleared_at None: still."""

    subject: str
    since: datetime
    fired_at: datetime
    cleared_at: datetime | None
    detail: str = ""

    @property
    def active(self) -> bool:
        return self.cleared_at is None


def firings(spans: Iterable[Span], window: timedelta, now: datetime) -> list[Firing]:
    """The spans that lasted longer than `window` by `now`, in the order they fired. A span
    ending after `now` (a clock ahead of ours) still holds."""
    out = []
    for span in spans:
        fired_at = span.start + window
        end = span.end if span.end is not None and span.end <= now else None
        if end is None and fired_at <= now:
            out.append(Firing(span.subject, span.start, fired_at, None, span.detail))
        elif end is not None and end > fired_at:
            out.append(Firing(span.subject, span.start, fired_at, end, span.detail))
    out.sort(key=lambda f: (f.fired_at, f.subject))
    return out


def spans_of(
    subject: str,
    changes: Sequence[tuple[datetime, Callable[[dict[Any, Any]], None]]],
    holds: Callable[[dict[Any, Any]], bool],
    detail: Callable[[dict[Any, Any]], str] = lambda _state: "",
) -> list[Span]:
    """Sweeps changes to a state in time order (all changes at one instant before looking) and
    returns when `holds(state)` was true."""
    state: dict[Any, Any] = {}
    spans: list[Span] = []
    start: datetime | None = None
    text = ""
    ordered = sorted(range(len(changes)), key=lambda i: changes[i][0])
    i = 0
    while i < len(ordered):
        at = changes[ordered[i]][0]
        while i < len(ordered) and changes[ordered[i]][0] == at:
            changes[ordered[i]][1](state)
            i += 1
        now_holds = holds(state)
        if now_holds and start is None:
            start, text = at, detail(state)
        elif not now_holds and start is not None:
            spans.append(Span(subject, start, at, text))
            start = None
    if start is not None:
        spans.append(Span(subject, start, None, text))
    return spans


def setter(key: Any, value: Any) -> Callable[[dict[Any, Any]], None]:
    def apply(state: dict[Any, Any]) -> None:
        state[key] = value

    return apply


def adder(key: Any, delta: int) -> Callable[[dict[Any, Any]], None]:
    def apply(state: dict[Any, Any]) -> None:
        state[key] = state.get(key, 0) + delta

    return apply
