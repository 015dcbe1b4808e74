"""In-memory fakes of csms's session ports (csms/ports/sessions.py): the session store, its unit
of work (changes kept only on commit, events validated as the real one does), and a token
authority answering from a dict."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from chargepark.events.envelope import DomainEvent, envelope_of
from chargepark.events.registry import validate_event
from csms.domain.authorization import Authorization
from csms.domain.sessions import ENERGY_INTERVAL, ENERGY_REGISTER, Session, SessionReadings
from csms.ocpp.readings import session_readings
from csms.ports.sessions import SampleRow


class DuplicateSession(Exception):
    """What the SQL store's unique constraints refuse: a second session with the same
    transaction or start key on one charger."""


@dataclass
class SessionData:
    """The committed state: what a database would hold."""

    sessions: dict[str, Session] = field(default_factory=dict)
    samples: list[SampleRow] = field(default_factory=list)
    tariffs: dict[str, str | None] = field(default_factory=dict)  # charger id -> tariff
    # Vehicles at the bays: (charger id, evse id or None: any, regnum, arrived_at, left_at).
    vehicles: list[tuple[str, int | None, str, datetime, datetime | None]] = field(
        default_factory=list
    )
    last_transaction_id: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)  # committed, in order


class FakeSessionStore:
    def __init__(self, data: SessionData) -> None:
        self.data = data

    def _one(self, match: Any) -> Session | None:
        found = [s for s in self.data.sessions.values() if match(s)]
        found.sort(key=lambda s: s.requested_at or s.started_at)
        return replace(found[0]) if found else None  # a copy: changes count once saved

    async def by_transaction(self, charger_id: str, transaction_id: str) -> Session | None:
        return self._one(
            lambda s: s.charger_id == charger_id and s.transaction_id == transaction_id
        )

    async def by_start_key(self, charger_id: str, start_key: str) -> Session | None:
        return self._one(lambda s: s.charger_id == charger_id and s.start_key == start_key)

    async def pending_start(
        self, charger_id: str, evse_id: int, id_token: str, *, remote_start_id: int | None = None
    ) -> Session | None:
        def match(s: Session) -> bool:
            if s.charger_id != charger_id or s.status != "pending":
                return False
            if remote_start_id is not None:
                return s.remote_start_id == remote_start_id
            return s.evse_id in (evse_id, 0) and s.id_token == id_token

        return self._one(match)

    async def active_for_token(self, id_token: str, *, besides: str | None = None) -> bool:
        return any(
            s.id_token == id_token and s.status == "active" and s.id != besides
            for s in self.data.sessions.values()
        )

    async def charger_tariff(self, charger_id: str) -> str | None:
        return self.data.tariffs.get(charger_id)

    async def vehicle_at(self, charger_id: str, evse_id: int) -> str | None:
        there = [
            (arrived, regnum)
            for cid, bay, regnum, arrived, left in self.data.vehicles
            if cid == charger_id and left is None and bay in (evse_id, None)
        ]
        return max(there)[1] if there else None

    async def readings(self, charger_id: str, transaction_id: str) -> SessionReadings:
        rows = sorted(
            (
                r
                for r in self.data.samples
                if r["charger_id"] == charger_id
                and r["transaction_id"] == transaction_id
                and r["measurand"] in (ENERGY_REGISTER, ENERGY_INTERVAL)
            ),
            key=lambda r: r["sampled_at"],
        )
        return session_readings(
            (r["sampled_at"], r["measurand"], r["phase"], r["unit"], r["multiplier"], r["value"])
            for r in rows
        )

    async def next_transaction_id(self, charger_id: str) -> int:
        self.data.last_transaction_id += 1
        return self.data.last_transaction_id

    async def add(self, session: Session) -> None:
        for s in self.data.sessions.values():
            if s.charger_id == session.charger_id and (
                (s.transaction_id is not None and s.transaction_id == session.transaction_id)
                or (s.start_key is not None and s.start_key == session.start_key)
            ):
                raise DuplicateSession(session.id)
        self.data.sessions[session.id] = replace(session)

    async def save(self, session: Session) -> None:
        if session.id in self.data.sessions:
            self.data.sessions[session.id] = replace(session)

    async def add_samples(self, rows: Sequence[SampleRow]) -> None:
        self.data.samples.extend(dict(r) for r in rows)


class FakeSessionUnitOfWork:
    """Like the SQL unit of work: what is not committed is rolled back at the block's end."""

    def __init__(self, data: SessionData) -> None:
        self.data = data
        self.events: list[dict[str, Any]] = []
        self._before: SessionData | None = None
        self.sessions = FakeSessionStore(data)

    async def __aenter__(self) -> Self:
        self._before = copy.deepcopy(self.data)
        self.events = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._before is not None:  # not committed: back to what it was
            self.data.__dict__.update(self._before.__dict__)
            self._before = None

    def emit(self, event: DomainEvent | Mapping[str, Any]) -> dict[str, Any]:
        doc = envelope_of(event) if isinstance(event, DomainEvent) else dict(event)
        validate_event(doc)
        self.events.append(doc)
        return doc

    async def commit(self) -> None:
        self.data.events.extend(self.events)
        self.events = []
        self._before = copy.deepcopy(self.data)


class FakeUnits:
    """The unit-of-work factory the service takes, over one `SessionData`."""

    def __init__(self, data: SessionData | None = None) -> None:
        self.data = data or SessionData()

    def __call__(self) -> FakeSessionUnitOfWork:
        return FakeSessionUnitOfWork(self.data)

    def event_names(self) -> list[str]:
        return [e["event"] for e in self.data.events]


class FakeTokenAuthority:
    """Accounts' answers by token; any other token is Unknown. Counts the questions."""

    def __init__(self, answers: Mapping[str, Authorization] | None = None) -> None:
        self.answers = dict(answers or {})
        self.asked: list[str] = []

    async def authorize(self, id_token: str) -> Authorization:
        self.asked.append(id_token)
        return self.answers.get(id_token, Authorization("Unknown"))
