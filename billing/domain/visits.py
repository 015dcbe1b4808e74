"""Visits: one parking stay plus the charging sessions during it, assembled from events.

Events arrive late, twice, or in any order (and a session's Started may never arrive, only its
Closed). So billing keeps *facts* (a stay, a session), each merged from whatever of its events
has arrived, and a visit is a function of the set of facts alone:

- a stay is keyed by lot + regnum + arrival time (VehicleParked's ts = VehicleLeft's
  arrived_at); its visit id derives from that key;
- a session belongs to the stay it overlaps in time (session [start, end) against stay
  [arrival, departure), an open end reaching forever) that has the same regnum or whose slot is
  the EV bay of the session's charger + EVSE; several candidates: the one matching on both,
  then by regnum, then by bay, then the latest arrival;
- a session without such a stay is a visit of its own (a public charger); a stay without
  sessions is a parking-only visit.

Once a visit is invoiced it is frozen: a session that turns up later for its stay becomes a
visit (and an invoice) of its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.domain.pricing import Line, charging_line, idle_line, parking_line
from billing.domain.tariff import Tariff
from chargepark.clock import parse_utc


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class StayKey:
    lot_id: str
    regnum: str
    arrived_at: datetime

    @property
    def visit_id(self) -> str:
        return "vis_" + _digest("stay", self.lot_id, self.regnum, self.arrived_at.isoformat())


def session_visit_id(session_id: str) -> str:
    return "vis_" + _digest("session", session_id)


@dataclass(frozen=True)
class StayFact:
    key: StayKey
    level: str | None = None
    slot_ui: str | None = None
    charger_id: str | None = None
    connector_id: int | None = None
    left_at: datetime | None = None

    @property
    def bay(self) -> tuple[str, int] | None:
        if self.charger_id is None or self.connector_id is None:
            return None
        return (self.charger_id, self.connector_id)

    @property
    def visit_id(self) -> str:
        return self.key.visit_id


@dataclass(frozen=True)
class SessionFact:
    session_id: str
    charger_id: str
    evse_id: int
    connector_id: int
    started_at: datetime
    ended_at: datetime | None = None
    kwh: Decimal | None = None
    energy_wh: int | None = None
    regnum: str | None = None
    id_token: str | None = None
    customer_id: str | None = None
    tariff_id: str | None = None
    reason: str | None = None
    started_seen: bool = False
    closed_seen: bool = False
    # The trace of the event that told us (the close's, else the start's): the session's
    # invoice line joins it, so one trace runs from the charger's stop to the line it billed.
    traceparent: str | None = None

    @property
    def closed(self) -> bool:
        return self.closed_seen

    @property
    def bay(self) -> tuple[str, int]:
        return (self.charger_id, self.evse_id)


def stay_of_event(event: Mapping[str, Any]) -> StayFact:
    """The stay a VehicleParked or VehicleLeft speaks of, with what that event knows."""
    parked = event["event"] == "VehicleParked"
    arrived = parse_utc(event["ts"] if parked else event["arrived_at"])
    return StayFact(
        key=StayKey(event["lot_id"], event["regnum"], arrived),
        level=event.get("level"),
        slot_ui=event.get("slot_ui"),
        charger_id=event.get("charger_id"),
        connector_id=event.get("connector_id"),
        left_at=None if parked else parse_utc(event["ts"]),
    )


def merge_stay(old: StayFact | None, new: StayFact) -> StayFact:
    """Commutative and idempotent: the departure from whichever event carries it, every other
    field from either (both events of one stay describe the same slot)."""
    if old is None:
        return new
    return StayFact(
        key=old.key,
        level=old.level or new.level,
        slot_ui=old.slot_ui or new.slot_ui,
        charger_id=old.charger_id or new.charger_id,
        connector_id=old.connector_id if old.connector_id is not None else new.connector_id,
        left_at=_later(old.left_at, new.left_at),
    )


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def session_of_event(event: Mapping[str, Any]) -> SessionFact:
    closed = event["event"] == "ChargingSessionClosed"
    return SessionFact(
        session_id=event["session_id"],
        charger_id=event["charger_id"],
        evse_id=event["evse_id"],
        connector_id=event["connector_id"],
        started_at=parse_utc(event["started_at"]),
        ended_at=parse_utc(event["ended_at"]) if closed else None,
        kwh=Decimal(event["kwh"]) if closed else None,
        energy_wh=event["energy_wh"] if closed else None,
        regnum=event.get("regnum"),
        id_token=event.get("id_token"),
        customer_id=event.get("customer_id"),
        tariff_id=event.get("tariff_id"),
        reason=event.get("reason") if closed else None,
        traceparent=event.get("traceparent"),
        started_seen=not closed,
        closed_seen=closed,
    )


_IDENTITY = ("regnum", "id_token", "customer_id", "tariff_id", "traceparent")


def merge_session(old: SessionFact | None, new: SessionFact) -> SessionFact:
    """Commutative and idempotent: what the close says wins (it is the later word), a field
    only one event carries is taken from it, and a Started never reopens a closed session."""
    if old is None:
        return new
    closed, started = (old, new) if old.closed_seen else (new, old)
    if not closed.closed_seen:  # two Started (a duplicate): either
        closed, started = old, new
    merged: dict[str, Any] = {
        f: getattr(closed, f) if getattr(closed, f) is not None else getattr(started, f)
        for f in _IDENTITY
    }
    return replace(
        closed,
        **merged,
        started_seen=old.started_seen or new.started_seen,
        closed_seen=old.closed_seen or new.closed_seen,
    )


def _overlaps(session: SessionFact, stay: StayFact) -> bool:
    """[started, ended) against [arrived, left); an open end reaches forever. A session of no
    length counts where it happened."""
    if stay.left_at is not None and session.started_at >= stay.left_at:
        return False
    end = session.ended_at
    if end is None:
        return True
    if end == session.started_at:
        return session.started_at >= stay.key.arrived_at
    return end > stay.key.arrived_at


def ranked_stays(session: SessionFact, stays: Iterable[StayFact]) -> list[StayFact]:
    """The stays `session` may belong to, among `stays` (those not yet invoiced), best first:
    the one matching on both regnum and bay, then by regnum, then by bay, then the latest."""
    ranked: list[tuple[tuple[Any, ...], StayFact]] = []
    for stay in stays:
        by_regnum = session.regnum is not None and session.regnum == stay.key.regnum
        by_bay = stay.bay is not None and stay.bay == session.bay
        if not (by_regnum or by_bay) or not _overlaps(session, stay):
            continue
        ranked.append(((by_regnum and by_bay, by_regnum, stay.key.arrived_at, stay.visit_id), stay))
    return [stay for _, stay in sorted(ranked, key=lambda r: r[0], reverse=True)]


def choose_stay(session: SessionFact, stays: Iterable[StayFact]) -> StayFact | None:
    """The stay `session` belongs to, among `stays` (those not yet invoiced), or None."""
    ranked = ranked_stays(session, stays)
    return ranked[0] if ranked else None


@dataclass(frozen=True)
class Placement:
    """Where a session belongs: the first of `stays` (visit ids, best first) still open when
    it is locked, else a visit of its own. `current`: the visit it is in now."""

    session: SessionFact
    current: str
    stays: tuple[str, ...]

    @property
    def own_visit(self) -> str:
        return session_visit_id(self.session.session_id)


def place(
    sessions: Iterable[tuple[SessionFact, str]], stays: Iterable[StayFact]
) -> list[Placement]:
    """Where each (session, the visit it is in) belongs among the open `stays`."""
    open_stays = list(stays)
    return [
        Placement(session, current, tuple(s.visit_id for s in ranked_stays(session, open_stays)))
        for session, current in sessions
    ]


@dataclass(frozen=True)
class Visit:
    id: str
    stay: StayFact | None
    sessions: tuple[SessionFact, ...]

    @property
    def complete(self) -> bool:
        """The vehicle has left (or there was no stay) and every session is closed."""
        left = self.stay is None or self.stay.left_at is not None
        return left and all(s.closed for s in self.sessions)

    @property
    def still_parked(self) -> bool:
        return self.stay is not None and self.stay.left_at is None


def assemble(
    stays: Iterable[StayFact],
    sessions: Iterable[SessionFact],
    frozen: Mapping[str, str] | None = None,
    invoiced_visits: Iterable[str] = (),
) -> dict[str, Visit]:
    """Every visit the facts make. `frozen`: session id -> the invoiced visit it is billed in
    (left where it is); `invoiced_visits`: visits no new session may join."""
    frozen = frozen or {}
    closed_visits = set(invoiced_visits) | set(frozen.values())
    open_stays = [s for s in stays if s.visit_id not in closed_visits]
    members: dict[str, list[SessionFact]] = {s.visit_id: [] for s in open_stays}
    by_id = {s.visit_id: s for s in open_stays}
    for session in sessions:
        if session.session_id in frozen:
            continue
        stay = choose_stay(session, open_stays)
        vid = stay.visit_id if stay is not None else session_visit_id(session.session_id)
        members.setdefault(vid, []).append(session)
    return {
        vid: Visit(vid, by_id.get(vid), tuple(sorted(found, key=_session_order)))
        for vid, found in members.items()
    }


def _session_order(s: SessionFact) -> tuple[datetime, str]:
    return (s.started_at, s.session_id)


def is_due(
    visit: Visit, last_change: datetime, now: datetime, settle_sec: int, timeout_sec: int
) -> bool:
    """Ready to invoice: complete and unchanged for `settle_sec` (late events still join);
    or, with the vehicle gone (or no stay) but a session never closed, `timeout_sec` after the
    last change. A vehicle still parked is never invoiced: its parking is still running."""
    if visit.still_parked:
        return False
    quiet = (now - last_change).total_seconds()
    return (visit.complete and quiet >= settle_sec) or quiet >= timeout_sec


def price_visit(
    visit: Visit,
    tariff_for: Any,  # (tariff_id | None, at: datetime) -> Tariff
) -> tuple[list[Line], Tariff]:
    """The visit's lines, and the tariff whose tax rate and currency the invoice takes (the
    parking's, else the first session's).

    A session that never closed is billed its session fee (0 kWh known). Idle time counts
    only for sessions on the stay's own EV bay."""
    lines: list[Line] = []
    stay = visit.stay
    primary: Tariff | None = None
    if stay is not None:
        primary = tariff_for(None, stay.key.arrived_at)
    bay_sessions = [s for s in visit.sessions if stay is not None and stay.bay == s.bay]
    for session in visit.sessions:
        tariff = tariff_for(session.tariff_id, session.started_at)
        primary = primary or tariff
        where = f"charger {session.charger_id} EVSE {session.evse_id}"
        line = charging_line(tariff, session.session_id, session.kwh or Decimal(0), where)
        if not session.closed:
            line = replace(line, description=line.description + " (session not closed)")
        lines.append(line)
    if stay is not None and stay.left_at is not None:
        assert primary is not None
        lines.append(parking_line(primary, stay.key.lot_id, stay.key.arrived_at, stay.left_at))
        for i, session in enumerate(bay_sessions):
            if session.ended_at is None:
                continue
            after = [
                s.started_at for s in bay_sessions[i + 1 :] if s.started_at >= session.ended_at
            ]
            until = min([stay.left_at, *after])
            tariff = tariff_for(session.tariff_id, session.started_at)
            idle = idle_line(tariff, session.session_id, session.ended_at, until)
            if idle is not None:
                lines.append(idle)
    assert primary is not None, "a visit has a stay or a session"
    return [line for line in lines if line.amount_minor != 0], primary
