"""The remote starts' store in memory: chargers, sessions and the vehicles on bays."""

from __future__ import annotations

import copy
from datetime import datetime

from csms.adapters.session_queries import UnknownSession
from csms.domain.chargers import Charger, UnknownCharger
from csms.domain.sessions import Session


class InMemoryRemoteStarts:
    def __init__(self) -> None:
        self.chargers: dict[str, Charger] = {}
        self.sessions: dict[str, Session] = {}
        self.vehicles: dict[tuple[str, int], str] = {}  # (charger, evse; 0: any) -> regnum

    async def charger(self, charger_id: str) -> Charger:
        if charger_id not in self.chargers:
            raise UnknownCharger(f"no charger {charger_id!r}")
        return copy.deepcopy(self.chargers[charger_id])

    async def vehicle_at(self, charger_id: str, evse_id: int) -> str | None:
        if evse_id:
            return self.vehicles.get((charger_id, evse_id))
        return next((r for (c, _), r in self.vehicles.items() if c == charger_id), None)

    async def add(self, session: Session) -> None:
        self.sessions[session.id] = copy.deepcopy(session)

    async def get(self, session_id: str) -> Session:
        if session_id not in self.sessions:
            raise UnknownSession(f"no session {session_id!r}")
        return copy.deepcopy(self.sessions[session_id])

    async def by_transaction(self, charger_id: str, transaction_id: str) -> Session | None:
        for s in self.sessions.values():
            if (s.charger_id, s.transaction_id) == (charger_id, transaction_id):
                return copy.deepcopy(s)
        return None

    async def fail_pending(self, session_id: str, reason: str, at: datetime) -> None:
        session = self.sessions.get(session_id)
        if session is not None and session.status == "pending":
            session.status, session.stop_reason, session.ended_at = "failed", reason[:32], at

    async def expire_pending(self, requested_before: datetime, at: datetime) -> int:
        expired = [
            s
            for s in self.sessions.values()
            if s.status == "pending"
            and s.requested_at is not None
            and s.requested_at < requested_before
        ]
        for s in expired:
            s.status, s.stop_reason, s.ended_at = "failed", "NotStarted", at
        return len(expired)
