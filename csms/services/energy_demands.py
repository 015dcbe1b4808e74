"""One round's demands (the allocator's input) from what csms knows of a site's chargers.
Pure; the manager (csms/services/energy.py) gathers the facts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from csms.domain.charging_profiles import (
    UNKNOWN_LIMITS,
    EvChargingNeeds,
    ExternalLimit,
    RateUnit,
    SmartChargingLimits,
)
from csms.domain.energy import Demand
from csms.ports.energy import ActiveSession, Amps3, InForce, Link, Measured

AC_MIN_AMPS = 6.0  # IEC 61851: below 6 A an AC car cannot charge
# A phase drawing less than this while another draws more than SINGLE_PHASE_SEEN is unused:
# the car charges on one phase only and loads only that one.
IDLE_PHASE_AMPS = 0.5
SINGLE_PHASE_SEEN = 1.0


@dataclass(frozen=True, kw_only=True)
class ChargerFacts:
    """What csms knows of one of the site's chargers this round."""

    charger_id: str
    version: str | None  # the live socket's OCPP version; None: not connected
    evses: Mapping[int, str]  # EVSE id -> newest connector status (empty: not known yet)
    rating: float  # amps per phase
    smart: bool  # supports smart charging and has not refused a profile
    external: Sequence[ExternalLimit] = ()
    needs: Mapping[int, EvChargingNeeds] = field(default_factory=dict)
    limits: SmartChargingLimits = UNKNOWN_LIMITS


def key_of(charger_id: str, evse_id: int) -> str:
    return f"{charger_id}/{evse_id}"


def split_key(key: str) -> tuple[str, int]:
    charger_id, _, evse = key.rpartition("/")
    return charger_id, int(evse)


def evse_ids(facts: ChargerFacts, sessions: Sequence[ActiveSession]) -> list[int]:
    """The charger's EVSEs: those it reported, those with a session, else EVSE 1."""
    ids = {e for e in facts.evses if e > 0}
    ids.update(s.evse_id for s in sessions if s.charger_id == facts.charger_id)
    return sorted(ids) or [1]


def build_demands(
    *,
    site_phases: int,
    chargers: Sequence[ChargerFacts],
    sessions: Sequence[ActiveSession],
    measured: Mapping[tuple[str, int], Measured],
    departures: Mapping[str, datetime | None],
    in_force: Mapping[tuple[str, int], InForce],
    now: datetime,
) -> list[Demand]:
    """A demand per EVSE. An offline charger holds the last station maximum it accepted (the
    failsafe), so it is counted at that, not controlled; one that cannot or will not take
    profiles is counted at its rating."""
    by_evse = {(s.charger_id, s.evse_id): s for s in sessions}
    demands = []
    for facts in chargers:
        ids = evse_ids(facts, sessions)
        for evse in ids:
            session = by_evse.get((facts.charger_id, evse))
            seen = measured.get((facts.charger_id, evse))
            if seen is None and len(ids) == 1:
                seen = measured.get((facts.charger_id, 0))
            key = key_of(facts.charger_id, evse)
            need = facts.needs.get(evse)
            smart, max_amps = _control(facts, evse, in_force)
            phases = _phases(site_phases, seen.amps if seen else None, need)
            demands.append(
                Demand(
                    key=key,
                    phases=phases,
                    min_amps=AC_MIN_AMPS,
                    max_amps=max_amps,
                    drawn_amps=_drawn(seen.amps, phases) if seen and seen.amps else None,
                    active=session is not None,
                    smart=smart,
                    energy_needed_wh=need.energy_wh if need else None,
                    departure=departures.get(key),
                    started_at=session.started_at if session else now,
                )
            )
    return demands


def _control(
    facts: ChargerFacts, evse: int, in_force: Mapping[tuple[str, int], InForce]
) -> tuple[bool, float]:
    """Whether the EVSE is controllable, and the most it can use."""
    if facts.version is None:
        held = in_force.get((facts.charger_id, 0))
        if held is not None and not held.refused:
            return False, min(facts.rating, held.limit_amps)
        return False, facts.rating
    if not facts.smart:
        return False, facts.rating
    most = facts.rating
    need = facts.needs.get(evse)
    if need is not None and need.max_current is not None and need.max_current > 0:
        most = min(most, need.max_current)
    for limit in facts.external:
        # A limit the charger reports in amps, for it as a whole or for this EVSE.
        if limit.evse_id in (0, evse) and limit.limit is not None and limit.unit is RateUnit.AMPS:
            most = min(most, limit.limit)
    return True, max(0.0, most)


def _phases(site_phases: int, amps: Amps3 | None, need: EvChargingNeeds | None) -> tuple[int, ...]:
    if site_phases == 1:
        return (1,)
    if need is not None and need.requested_transfer == "AC_single_phase":
        return (_busiest(amps) if amps else 1,)
    if amps is not None:
        drawing = [i + 1 for i, a in enumerate(amps) if a > SINGLE_PHASE_SEEN]
        idle = [i + 1 for i, a in enumerate(amps) if a < IDLE_PHASE_AMPS]
        if len(drawing) == 1 and len(idle) == 2:
            return (drawing[0],)
    return (1, 2, 3)


def _busiest(amps: Amps3) -> int:
    return max(range(3), key=lambda i: amps[i]) + 1


def _drawn(amps: Amps3, phases: tuple[int, ...]) -> float:
    return max(amps[p - 1] for p in phases)


def charger_load(limits: Mapping[str, float], demands: Sequence[Demand], charger_id: str) -> float:
    """A charger's station maximum for its EVSEs' limits: the most any phase carries."""
    load = [0.0, 0.0, 0.0]
    for demand in demands:
        if split_key(demand.key)[0] != charger_id:
            continue
        for phase in demand.phases:
            load[phase - 1] += limits.get(demand.key, 0.0)
    return max(load)


def known_limits(
    rows: Mapping[tuple[str, int], InForce], links: Mapping[str, Link]
) -> dict[str, InForce]:
    """Per EVSE key, the limits in force that still hold: a charger that connected after we
    set them may have lost them (a reboot), so they are sent again (the failsafe's share)."""
    known = {}
    for (charger_id, evse_id), row in rows.items():
        link = links.get(charger_id)
        if evse_id == 0 or (link is not None and row.changed_at < link.connected_at):
            continue
        known[key_of(charger_id, evse_id)] = row
    return known


def meter_load(measured: Mapping[tuple[str, int], Measured], charger_id: str) -> Amps3:
    """The meter charger's current per phase: its whole-charger reading, else its EVSEs' sum."""
    whole = measured.get((charger_id, 0))
    if whole is not None and whole.amps is not None:
        return whole.amps
    load = [0.0, 0.0, 0.0]
    for (cid, _evse), seen in measured.items():
        if cid == charger_id and seen.amps is not None:
            for i in range(3):
                load[i] += seen.amps[i]
    return load[0], load[1], load[2]


@dataclass(frozen=True)
class Snapshot:
    """What one round of a site starts from."""

    demands: list[Demand]
    chargers: Mapping[str, ChargerFacts]
    links: Mapping[str, Link]
    known: Mapping[str, InForce]  # per EVSE key, still valid (sent since the last connect)
    rows: Mapping[tuple[str, int], InForce]
    sessions: Sequence[ActiveSession]
    other_load: Amps3
    measured: Mapping[tuple[str, int], Measured]
