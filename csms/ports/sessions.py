"""What the session use cases need: the session store, the unit of work it lives in, and
whoever answers for id tokens. The SQL store is csms/adapters/session_store.py; the fakes are
tests/support/fakes/csms/sessions.py."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chargepark.events.envelope import DomainEvent
from chargepark.ports import Transaction
from csms.domain.authorization import Authorization
from csms.domain.sessions import Session, SessionReadings

# A meter sample as the charger sent it, kept as is (a meter_samples row): the session rules
# never read one; the store reads the session's energy out of them (`readings`).
SampleRow = dict[str, Any]


class SessionStore(Protocol):
    async def by_transaction(self, charger_id: str, transaction_id: str) -> Session | None:
        """The session of a charger's transaction, locked until the unit of work ends."""

    async def by_start_key(self, charger_id: str, start_key: str) -> Session | None:
        """The session a start with this key opened (a retransmitted start finds it)."""

    async def pending_start(
        self, charger_id: str, evse_id: int, id_token: str, *, remote_start_id: int | None = None
    ) -> Session | None:
        """The remote start a transaction answers: by `remote_start_id` when it names one, else
        by EVSE (or any EVSE: 0) and token, the oldest first."""

    async def active_for_token(self, id_token: str, *, besides: str | None = None) -> bool:
        """Whether the token is in an active session (other than `besides`)."""

    async def charger_tariff(self, charger_id: str) -> str | None: ...

    async def vehicle_at(self, charger_id: str, evse_id: int) -> str | None:
        """The vehicle parking last placed at the charger's bay, while it is still there."""

    async def readings(self, charger_id: str, transaction_id: str) -> SessionReadings:
        """The energy readings among the samples kept for the transaction."""

    async def next_transaction_id(self, charger_id: str) -> int:
        """A new transaction number, for transactions the CSMS numbers: never handed out
        before, increasing."""

    async def add(self, session: Session) -> None: ...

    async def save(self, session: Session) -> None: ...

    async def add_samples(self, rows: Sequence[SampleRow]) -> None:
        """Keep meter samples in this unit of work (the hot path's MeterValues do not come
        here: they are written in group commits)."""


class SessionUnitOfWork(Transaction, Protocol):
    @property
    def sessions(self) -> SessionStore: ...

    def emit(self, event: DomainEvent | Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SessionFilter:
    charger_id: str | None = None
    status: str | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None
    limit: int = 50
    offset: int = 0


class SessionReads(Protocol):
    """The sessions as the REST API and the remote control read them (nothing changes)."""

    async def get(self, session_id: str) -> Session:
        """The session, or UnknownSession."""

    async def ongoing(self, charger_ids: Sequence[str]) -> dict[str, list[Session]]:
        """The pending and active sessions of these chargers, by EVSE and start."""

    async def page(self, f: SessionFilter) -> tuple[Sequence[Session], int]:
        """A page of the sessions `f` selects, newest first, and how many it selects."""


class TokenAuthority(Protocol):
    """Says what an id token may do (accounts, or its cache when accounts cannot answer)."""

    async def authorize(self, id_token: str) -> Authorization: ...
