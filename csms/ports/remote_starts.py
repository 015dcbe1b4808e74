"""What remote start and stop read and write: the charger asked, its pending and running
sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from csms.domain.chargers import Charger
from csms.domain.sessions import Session


class RemoteStarts(Protocol):
    async def charger(self, charger_id: str) -> Charger:
        """The registered charger; UnknownCharger if there is none."""
        ...

    async def vehicle_at(self, charger_id: str, evse_id: int) -> str | None:
        """The regnum of the vehicle parked at that charger (and EVSE, unless 0), if any."""
        ...

    async def add(self, session: Session) -> None:
        """Store a new (pending) session, committed when this returns."""
        ...

    async def get(self, session_id: str) -> Session:
        """The session as it is now; UnknownSession if there is none."""
        ...

    async def by_transaction(self, charger_id: str, transaction_id: str) -> Session | None: ...

    async def fail_pending(self, session_id: str, reason: str, at: datetime) -> None:
        """Mark the session `failed` for `reason` (at most 32 characters kept), if it is still
        `pending`; nothing otherwise."""
        ...

    async def expire_pending(self, requested_before: datetime, at: datetime) -> int:
        """Fail (`NotStarted`) every pending session requested before that time; how many."""
        ...
