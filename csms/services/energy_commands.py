"""Limits to chargers: a station maximum profile per charger (the failsafe: it stays in force
if csms dies or the charger loses its connection), plus a TxProfile per session on chargers
with several EVSEs. Only what changed goes out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from csms.domain.charging_profiles import (
    ChargingProfile,
    ProfileKind,
    ProfilePurpose,
    ProfileRefused,
    RateUnit,
    SchedulePeriod,
    SmartChargingLimits,
    check_against,
)
from csms.domain.energy import Demand
from csms.ports.energy import ActiveSession, InForce, Link, ProfileCommands
from csms.ports.gateway import CommandStatus
from csms.services.energy_demands import ChargerFacts, charger_load, split_key

log = logging.getLogger(__name__)

# Our profiles' ids and stack level: fixed, so each new limit replaces the previous one on the
# charger (same id, same purpose, same level) instead of piling up; an operator's own profiles
# (other ids; REST hands out ids from 1 000 000 up) are left alone.
STATION_PROFILE_ID = 900_000
TX_PROFILE_ID = 900_100  # + the EVSE id
STACK_LEVEL = 1
REQUESTED_BY = "energy-manager"


@dataclass(frozen=True)
class ChargerLink:
    """How to reach a charger and what profiles it takes."""

    version: str
    limits: SmartChargingLimits
    voltage: float
    phases: int
    # EVSEs whose session gets a TxProfile even on a charger of one EVSE: an ISO 15118 car
    # that sent its charging needs is answered with one (2.0.1 K15), whose schedule it reads.
    tx_evses: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Sent:
    """How one charger took its new limits."""

    charger_id: str
    accepted: bool
    refused: bool  # it said no, answered with an error, or did not answer
    reason: str | None = None


class LimitSender:
    def __init__(self, commands: ProfileCommands) -> None:
        self.commands = commands

    async def apply(
        self,
        changes: Mapping[str, float],
        limits: Mapping[str, float],
        demands: Sequence[Demand],
        links: Mapping[str, ChargerLink],
        sessions: Sequence[ActiveSession],
    ) -> list[Sent]:
        """Send each changed charger its station maximum for `limits` (its EVSEs' limits, the
        changed ones already in), all chargers at once, and wait for every answer."""
        chargers = sorted({split_key(key)[0] for key in changes})
        jobs = [
            self._charger(cid, changes, limits, demands, links[cid], sessions) for cid in chargers
        ]
        return list(await asyncio.gather(*jobs))

    async def _charger(
        self,
        charger_id: str,
        changes: Mapping[str, float],
        limits: Mapping[str, float],
        demands: Sequence[Demand],
        link: ChargerLink,
        sessions: Sequence[ActiveSession],
    ) -> Sent:
        station = charger_load(limits, demands, charger_id)
        sent = await self.send(charger_id, link, station_profile(station, link))
        evses = [d for d in demands if split_key(d.key)[0] == charger_id]
        if not sent.accepted or (len(evses) < 2 and not link.tx_evses):
            return sent
        # Several EVSEs: each session gets its own share too (the station maximum alone would
        # let one car take the others' share); and an ISO 15118 car gets its schedule.
        for session in sessions:
            key = f"{charger_id}/{session.evse_id}"
            wanted = len(evses) >= 2 or session.evse_id in link.tx_evses
            if session.charger_id == charger_id and key in changes and wanted:
                if session.transaction_id is None:
                    continue
                profile = tx_profile(limits.get(key, 0.0), session, link)
                await self.send(charger_id, link, profile)
        return sent

    async def send(self, charger_id: str, link: ChargerLink, profile: ChargingProfile) -> Sent:
        try:
            check_against(profile, link.limits)
        except ProfileRefused as refused:
            return Sent(charger_id, accepted=False, refused=True, reason=str(refused))
        outcome = await self.commands.set_charging_profile(
            charger_id, link.version, profile, requested_by=REQUESTED_BY
        )
        if outcome.accepted:
            return Sent(charger_id, accepted=True, refused=False)
        if outcome.status is CommandStatus.OFFLINE:
            return Sent(charger_id, accepted=False, refused=False, reason=outcome.detail)
        reason = _reason(outcome.status, outcome.response, outcome.detail)
        log.warning("charger %s did not take its limit: %s", charger_id, reason)
        return Sent(charger_id, accepted=False, refused=True, reason=reason)


def charger_links(
    links: Mapping[str, Link],
    chargers: Mapping[str, ChargerFacts],
    voltage: float,
    phases: int,
) -> dict[str, ChargerLink]:
    """The chargers limits can be sent to: connected and smart."""
    out: dict[str, ChargerLink] = {}
    for charger_id, link in links.items():
        facts = chargers.get(charger_id)
        if facts is None or not facts.smart or facts.version is None:
            continue
        out[charger_id] = ChargerLink(
            version=link.version,
            limits=facts.limits,
            voltage=voltage,
            phases=phases,
            tx_evses=frozenset(facts.needs),
        )
    return out


def needs_answers(
    sessions: Sequence[ActiveSession],
    chargers: Mapping[str, ChargerFacts],
    in_force: Mapping[str, float],
    answered: set[str],
) -> dict[str, float]:
    """The ISO 15118 cars whose charging needs are not answered yet: each is answered with a
    TxProfile even when its share does not change (its limit in force goes out again).
    `answered` (the sessions answered so far) is kept up to date."""
    out: dict[str, float] = {}
    for session in sessions:
        facts = chargers.get(session.charger_id)
        key = f"{session.charger_id}/{session.evse_id}"
        if facts is None or session.evse_id not in facts.needs or key not in in_force:
            continue
        if session.session_id not in answered and session.transaction_id:
            answered.add(session.session_id)
            out[key] = in_force[key]
    answered &= {s.session_id for s in sessions}
    return out


def station_profile(amps: float, link: ChargerLink) -> ChargingProfile:
    return ChargingProfile(
        profile_id=STATION_PROFILE_ID,
        stack_level=_stack_level(link.limits),
        purpose=ProfilePurpose.STATION_MAX,
        kind=ProfileKind.ABSOLUTE,
        unit=_unit(link.limits),
        periods=(SchedulePeriod(0, _in_unit(amps, link)),),
        start_schedule=_EPOCH,
    )


def tx_profile(amps: float, session: ActiveSession, link: ChargerLink) -> ChargingProfile:
    return ChargingProfile(
        profile_id=TX_PROFILE_ID + session.evse_id,
        stack_level=_stack_level(link.limits),
        purpose=ProfilePurpose.TX,
        kind=ProfileKind.RELATIVE,
        unit=_unit(link.limits),
        periods=(SchedulePeriod(0, _in_unit(amps, link)),),
        evse_id=session.evse_id,
        transaction_id=session.transaction_id,
    )


# An Absolute profile needs a start: one in the past makes it in force from now on.
_EPOCH = datetime.fromisoformat("2020-01-01T00:00:00+00:00")


def _stack_level(limits: SmartChargingLimits) -> int:
    if limits.max_stack_level is not None:
        return min(STACK_LEVEL, limits.max_stack_level)
    return STACK_LEVEL


def _unit(limits: SmartChargingLimits) -> RateUnit:
    if not limits.units or RateUnit.AMPS in limits.units:
        return RateUnit.AMPS
    return RateUnit.WATTS


def _in_unit(amps: float, link: ChargerLink) -> float:
    """Amps per phase, or the same as watts for a charger that takes only W. Rounded down to
    a tenth, so that the sum in force never creeps over the share by float noise."""
    value = amps if _unit(link.limits) is RateUnit.AMPS else amps * link.voltage * link.phases
    return int(value * 10) / 10


def _reason(
    status: CommandStatus, response: Mapping[str, object] | None, detail: str | None
) -> str:
    if status is CommandStatus.ANSWERED:
        return f"rejected the profile ({(response or {}).get('status')})"
    if status is CommandStatus.TIMEOUT:
        return "did not answer"
    return detail or str(status)


def as_raised(
    raises: Mapping[str, float],
    in_force: Mapping[str, float],
    demands: Sequence[Demand],
    now: datetime,
) -> dict[tuple[str, int], InForce]:
    """The rows of `raises` as if every charger took them: each EVSE's limit and its
    charger's station maximum."""
    limits = {**in_force, **raises}
    rows = {split_key(key): InForce(amps, now) for key, amps in raises.items()}
    for charger_id in {split_key(key)[0] for key in raises}:
        rows[(charger_id, 0)] = InForce(charger_load(limits, demands, charger_id), now)
    return rows


def held_before(
    raises: Mapping[str, float],
    unanswered: set[str],
    known: Mapping[str, InForce],
    rows: Mapping[tuple[str, int], InForce],
) -> dict[tuple[str, int], InForce]:
    """The rows to put back for chargers that did not answer their raise (gone offline):
    what they held before still stands."""
    out: dict[tuple[str, int], InForce] = {}
    for key in raises:
        charger_id, evse_id = split_key(key)
        if charger_id in unanswered and (was := known.get(key)) is not None:
            out[(charger_id, evse_id)] = was
    for charger_id in unanswered:
        if (held := rows.get((charger_id, 0))) is not None:
            out[(charger_id, 0)] = held
    return out
