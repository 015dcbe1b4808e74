"""The session lifecycle (OCPP transactions, any version): sessions opened and closed as
chargers really behave: retransmitted starts after a reconnect, stops for unknown ids,
events replayed after an offline period, an end arriving for a start never seen.

Version-free: each OCPP adapter translates its frames into these commands. Transactions come
numbered two ways: the CSMS numbers them (`StartSession`: a new number from the store; a start
sent again, same `start_key`, gets the same number back) or the charger does (`SessionEvent`
with `charger_numbers=True`: an unknown number is a transaction whose start was not seen)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from chargepark.clock import Clock
from csms.domain.authorization import Authorization
from csms.domain.sessions import Session
from csms.ports.sessions import SampleRow, SessionUnitOfWork, TokenAuthority

log = logging.getLogger(__name__)

Phase = Literal["started", "updated", "ended"]


@dataclass(frozen=True, kw_only=True)
class StartSession:
    """A transaction the CSMS numbers has started (the charger waits for its number)."""

    charger_id: str
    evse_id: int
    connector_id: int
    id_token: str
    meter_start_wh: int
    at: datetime
    # What a retransmission of this start repeats (its connector, token, register and stamp),
    # whatever our clock says by then: the same key gets the same transaction back.
    start_key: str


@dataclass(frozen=True)
class SessionStarted:
    transaction_id: str
    auth: Authorization


@dataclass(frozen=True, kw_only=True)
class SessionEvent:
    """Something happened to a numbered transaction: it started, goes on, or ended."""

    charger_id: str
    transaction_id: str
    phase: Phase
    at: datetime
    # True: the charger numbers its transactions, so an unknown number is a transaction whose
    # start was lost: it is opened from this event. False: we numbered it, and an unknown
    # number has nothing to close (the event is kept all the same).
    charger_numbers: bool
    seq_no: int | None = None
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    meter_wh: int | None = None  # the energy register, when the event carries one
    reason: str | None = None  # why it ended
    offline: bool = False  # queued while the charger was offline, sent after reconnecting
    remote_start_id: int | None = None  # the remote start it answers, when it names one
    # Meter samples sent with the event, kept in its transaction (placed at the session's
    # EVSE) so that the close reads them.
    samples: Sequence[SampleRow] = ()


class SessionService:
    def __init__(
        self, uow: Callable[[], SessionUnitOfWork], clock: Clock, authorizer: TokenAuthority
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.authorizer = authorizer

    async def authorize(self, id_token: str) -> Authorization:
        """C01 Authorize: what accounts says of the token, and ConcurrentTx when it is already
        in an ongoing transaction (one card, one car at a time)."""
        auth = await self.authorizer.authorize(id_token)
        if auth.status != "Accepted":
            return auth
        async with self.uow() as uow:
            busy = await uow.sessions.active_for_token(id_token)
        return replace(auth, status="ConcurrentTx") if busy else auth

    async def start(self, cmd: StartSession) -> SessionStarted:
        """Open a session the CSMS numbers; the token's answer goes back with the number."""
        auth = await self.authorizer.authorize(cmd.id_token)  # outside the transaction: HTTP
        async with self.uow() as uow:
            # A charger that lost the answer sends the same start again: same number back.
            existing = await uow.sessions.by_start_key(cmd.charger_id, cmd.start_key)
            if existing is not None:
                return SessionStarted(existing.transaction_id or "0", _as_answered(auth, existing))
            if auth.status == "Accepted" and await uow.sessions.active_for_token(cmd.id_token):
                auth = replace(auth, status="ConcurrentTx")
            tx_id = str(await uow.sessions.next_transaction_id(cmd.charger_id))
            pending = await uow.sessions.pending_start(cmd.charger_id, cmd.evse_id, cmd.id_token)
            session = Session.open(
                charger_id=cmd.charger_id,
                transaction_id=tx_id,
                evse_id=cmd.evse_id,
                connector_id=cmd.connector_id,
                at=cmd.at,
                id_token=cmd.id_token,
                meter_start_wh=cmd.meter_start_wh,
                start_key=cmd.start_key,
                answering=pending,
            )
            session.customer_id, session.auth_status = auth.customer_id, auth.status
            await _attach_context(uow, session)
            await (uow.sessions.save if pending else uow.sessions.add)(session)
            uow.emit(session.started())
            await uow.commit()
        if auth.status != "Accepted":
            # The charger decides (StopTransactionOnInvalidId); the session is kept either way.
            log.warning(
                "transaction started with a token not accepted",
                extra={"charger_id": cmd.charger_id, "status": auth.status},
            )
        return SessionStarted(tx_id, auth)

    async def record(self, cmd: SessionEvent) -> Authorization | None:
        """Apply an event to its session (opening it when the charger numbers transactions and
        its start was not seen; closing it when it ended). The token's answer, when the event
        names one."""
        # Authorization first, outside the unit of work: it may ask accounts over HTTP.
        auth = await self.authorizer.authorize(cmd.id_token) if cmd.id_token else None
        async with self.uow() as uow:
            session = await uow.sessions.by_transaction(cmd.charger_id, cmd.transaction_id)
            if cmd.samples:  # kept whatever becomes of the event; placed at the session's EVSE
                for row in cmd.samples:
                    if session is not None:
                        row["evse_id"], row["connector_id"] = session.evse_id, session.connector_id
                await uow.sessions.add_samples(cmd.samples)
            if session is None and not cmd.charger_numbers:
                # Answered all the same; there is nothing to close.
                log.warning(
                    "an unknown transaction ended",
                    extra={
                        "charger_id": cmd.charger_id,
                        "transaction_id": cmd.transaction_id,
                        "meter_stop_wh": cmd.meter_wh,
                    },
                )
                await uow.commit()
                return None
            opened = session is None
            if session is None:
                session = await self._open_unseen(uow, cmd)
            elif session.id_token is None and cmd.id_token:
                session.id_token = cmd.id_token  # authorized after plug-in (E02)
            if auth is not None and cmd.id_token and cmd.id_token == session.id_token:
                if auth.status == "Accepted" and await uow.sessions.active_for_token(
                    cmd.id_token, besides=session.id
                ):
                    auth = replace(auth, status="ConcurrentTx")
                session.auth_status = auth.status
                session.customer_id = auth.customer_id or session.customer_id
            if opened:
                uow.emit(session.started())  # once the token is settled
            session.record_event(seq_no=cmd.seq_no, offline=cmd.offline, meter_wh=cmd.meter_wh)
            if cmd.phase == "ended" and session.status != "closed":
                readings = await uow.sessions.readings(cmd.charger_id, cmd.transaction_id)
                closed = session.close(cmd.meter_wh, cmd.at, cmd.reason or "Local", readings)
                if closed is not None:
                    uow.emit(closed)
                    _report_meter(session)
            await uow.sessions.save(session)
            await uow.commit()
        if session.status == "closed" and session.missing_seq_nos:
            log.warning(
                "transaction has events missing",
                extra={
                    "charger_id": cmd.charger_id,
                    "transaction_id": cmd.transaction_id,
                    "missing_seq_nos": session.seq_missing,
                },
            )
        return auth

    async def _open_unseen(self, uow: SessionUnitOfWork, cmd: SessionEvent) -> Session:
        """The first event seen of a transaction the charger numbered (its start, or a later
        event when the start was lost): opened from what it says, adopting the remote start
        it answers."""
        pending = None
        if cmd.remote_start_id is not None:
            pending = await uow.sessions.pending_start(
                cmd.charger_id, 0, "", remote_start_id=cmd.remote_start_id
            )
        session = Session.open(
            charger_id=cmd.charger_id,
            transaction_id=cmd.transaction_id,
            evse_id=cmd.evse_id or (pending.evse_id if pending else 0),
            connector_id=cmd.connector_id or (pending.connector_id if pending else 0),
            at=cmd.at,
            id_token=cmd.id_token or (pending.id_token if pending else None),
            meter_start_wh=cmd.meter_wh,
            answering=pending,
        )
        await _attach_context(uow, session)
        if pending is None:
            await uow.sessions.add(session)
        return session


async def _attach_context(uow: SessionUnitOfWork, session: Session) -> None:
    """What the session inherits at its start: the charger's tariff and the vehicle parking
    says stands at the bay."""
    session.tariff_id = await uow.sessions.charger_tariff(session.charger_id)
    session.regnum = await uow.sessions.vehicle_at(session.charger_id, session.evse_id)


def _as_answered(auth: Authorization, session: Session) -> Authorization:
    """A retransmitted start gets the answer the first one got."""
    if session.auth_status and session.auth_status != auth.status:
        return replace(auth, status=session.auth_status)
    return auth


def _report_meter(session: Session) -> None:
    if session.meter_anomalies or session.energy_source not in ("registers", None):
        log.warning(
            "session energy not from its start and stop registers",
            extra={
                "charger_id": session.charger_id,
                "session_id": session.id,
                "energy_source": session.energy_source,
                "meter_anomalies": session.meter_anomalies,
            },
        )
