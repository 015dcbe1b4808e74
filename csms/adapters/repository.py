"""The csms's unit of work: one transaction over its stores (chargers, sessions) and the
events their changes emit."""

from __future__ import annotations

from chargepark.db.uow import UnitOfWork
from csms.adapters.charger_store import (
    SqlChargerRepository,
    connector_states,
    save_statuses_with_events,
)
from csms.adapters.session_store import SqlSessionRepository, session_from_row
from csms.ports.chargers import ChargerStore
from csms.ports.sessions import SessionStore

__all__ = [
    "CsmsUnitOfWork",
    "SqlChargerRepository",
    "SqlSessionRepository",
    "connector_states",
    "save_statuses_with_events",
    "session_from_row",
]


class CsmsUnitOfWork(UnitOfWork):
    """Satisfies `csms.ports.sessions.SessionUnitOfWork`."""

    chargers: ChargerStore
    sessions: SessionStore

    async def __aenter__(self) -> CsmsUnitOfWork:
        await super().__aenter__()
        self.chargers = SqlChargerRepository(self)
        self.sessions = SqlSessionRepository(self)
        return self
