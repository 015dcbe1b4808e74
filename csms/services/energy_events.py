"""What the energy manager tells ops: each site's load (SiteLoadReported) and chargers that
cannot be controlled (SmartChargingRefused)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chargepark.events.envelope import DomainEvent, envelope_of
from csms.domain.energy import Demand, load_per_phase
from csms.ports.energy import Amps3
from csms.services.energy_demands import split_key


@dataclass(frozen=True, kw_only=True)
class SiteLoadReported(DomainEvent):
    name = "SiteLoadReported"
    site_id: str
    ts: datetime
    phases: int
    voltage: float
    limit_amps: list[float]
    other_load_amps: list[float]
    allocated_amps: list[float]
    drawn_amps: list[float]
    chargers: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class SmartChargingRefused(DomainEvent):
    name = "SmartChargingRefused"
    site_id: str
    charger_id: str
    ts: datetime
    reason: str


@dataclass(frozen=True, kw_only=True)
class LoadFigures:
    """One site's figures after a round: also what GET /charging/sites/{id} shows."""

    site_id: str
    phases: int
    voltage: float
    capacity: Amps3  # limit in force - other load - margin
    other_load: Amps3
    in_force: Mapping[str, float]
    demands: Sequence[Demand]
    paused: frozenset[str]
    sessions: Mapping[str, str] = field(default_factory=dict)  # EVSE key -> session id
    power_w: Mapping[str, float] = field(default_factory=dict)  # EVSE key -> measured power


def rounded(values: Sequence[float]) -> list[float]:
    return [round(v, 2) for v in values]


def drawn_per_phase(demands: Sequence[Demand]) -> Amps3:
    load = [0.0, 0.0, 0.0]
    for demand in demands:
        for phase in demand.phases:
            load[phase - 1] += demand.drawn_amps or 0.0
    return load[0], load[1], load[2]


def load_report(figures: LoadFigures, now: datetime) -> dict[str, Any]:
    """SiteLoadReported's document (enveloped)."""
    chargers = []
    for demand in figures.demands:
        charger_id, evse_id = split_key(demand.key)
        limit = demand.max_amps if not demand.smart else figures.in_force.get(demand.key, 0.0)
        chargers.append(
            {
                "charger_id": charger_id,
                "evse_id": evse_id,
                "limit_amps": round(limit, 2),
                "drawn_amps": None if demand.drawn_amps is None else round(demand.drawn_amps, 2),
                "paused": demand.key in figures.paused,
            }
        )
    event = SiteLoadReported(
        site_id=figures.site_id,
        ts=now,
        phases=figures.phases,
        voltage=figures.voltage,
        limit_amps=rounded(figures.capacity),
        other_load_amps=rounded(figures.other_load),
        allocated_amps=rounded(load_per_phase(figures.in_force, figures.demands)),
        drawn_amps=rounded(drawn_per_phase(figures.demands)),
        chargers=chargers,
    )
    return envelope_of(event)


def refused_report(site_id: str, charger_id: str, reason: str, now: datetime) -> dict[str, Any]:
    return envelope_of(
        SmartChargingRefused(site_id=site_id, charger_id=charger_id, ts=now, reason=reason[:500])
    )
