"""Transaction use cases (E01-E07 / 1.6 Start/StopTransaction): sessions opened and closed as
chargers really behave: retransmitted starts after a reconnect, stops for unknown ids,
TransactionEvents replayed after an offline period, Ended arriving for a start never seen."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from chargepark.clock import Clock
from csms.adapters.repository import CsmsUnitOfWork
from csms.domain.sessions import Session, session_energy_samples
from csms.services.authorization import Authorization, Authorizer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartTransaction:  # 1.6
    charger_id: str
    connector_id: int
    id_tag: str
    meter_start_wh: int
    at: datetime
    # The time as the charger stamped it, when `at` is our clock instead (a clock far off):
    # a retransmitted start carries the same stamp, whatever our clock says by then.
    stamped_at: datetime | None = None


@dataclass(frozen=True)
class StopTransaction:  # 1.6
    charger_id: str
    transaction_id: int
    meter_stop_wh: int
    at: datetime
    reason: str | None
    samples: list[dict[str, Any]] = field(default_factory=list)  # transactionData rows


@dataclass(frozen=True)
class TransactionEvent:  # 2.0.1
    charger_id: str
    event_type: str  # Started | Updated | Ended
    transaction_id: str
    seq_no: int
    at: datetime
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    meter_wh: int | None
    stopped_reason: str | None
    offline: bool = False  # queued while the charger was offline, sent after reconnecting
    remote_start_id: int | None = None


class TransactionService:
    def __init__(
        self, uow: Callable[[], CsmsUnitOfWork], clock: Clock, authorizer: Authorizer
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

    async def start_v16(self, cmd: StartTransaction) -> tuple[int, Authorization]:
        auth = await self.authorizer.authorize(cmd.id_tag)  # outside the transaction: HTTP
        evse_id, connector_id = (0, 0) if cmd.connector_id == 0 else (cmd.connector_id, 1)
        # A charger that lost the answer sends the same start again: same transactionId back.
        stamp = (cmd.stamped_at or cmd.at).isoformat()
        start_key = f"{cmd.connector_id}|{cmd.id_tag}|{cmd.meter_start_wh}|{stamp}"
        async with self.uow() as uow:
            existing = await uow.sessions.by_start_key(cmd.charger_id, start_key)
            if existing is not None:
                return int(existing.transaction_id or 0), _as_answered(auth, existing)
            if auth.status == "Accepted" and await uow.sessions.active_for_token(cmd.id_tag):
                auth = replace(auth, status="ConcurrentTx")
            tx_id = await uow.sessions.next_transaction_id(cmd.charger_id)
            pending = await uow.sessions.pending_start(cmd.charger_id, evse_id, cmd.id_tag)
            session = pending or Session(
                id=str(uuid.uuid4()),
                charger_id=cmd.charger_id,
                transaction_id=None,
                evse_id=evse_id,
                connector_id=connector_id,
                started_at=cmd.at,
            )
            session.transaction_id, session.status = str(tx_id), "active"
            session.evse_id, session.connector_id = evse_id, connector_id
            session.started_at, session.start_key = cmd.at, start_key
            session.id_token, session.customer_id = cmd.id_tag, auth.customer_id
            session.meter_start_wh, session.auth_status = cmd.meter_start_wh, auth.status
            await self._attach_context(uow, session)
            await (uow.sessions.save if pending else uow.sessions.add)(session)
            uow.emit(session.started())
            await uow.commit()
        if auth.status != "Accepted":
            # The charger decides (StopTransactionOnInvalidId); the session is kept either way.
            log.warning(
                "transaction started with a token not accepted",
                extra={"charger_id": cmd.charger_id, "status": auth.status},
            )
        return tx_id, auth

    async def stop_v16(self, cmd: StopTransaction) -> None:
        async with self.uow() as uow:
            session = await uow.sessions.by_transaction(cmd.charger_id, str(cmd.transaction_id))
            if cmd.samples:  # kept whatever becomes of the stop; placed at the session's EVSE
                for row in cmd.samples:
                    if session is not None:
                        row["evse_id"], row["connector_id"] = session.evse_id, session.connector_id
                await uow.sessions.add_samples(cmd.samples)
            if session is None:
                # 1.6 wants the stop answered all the same; there is nothing to close.
                log.warning(
                    "StopTransaction for an unknown transaction",
                    extra={
                        "charger_id": cmd.charger_id,
                        "transaction_id": cmd.transaction_id,
                        "meter_stop_wh": cmd.meter_stop_wh,
                    },
                )
                await uow.commit()
                return
            if session.status == "closed":
                await uow.commit()
                return  # a retransmitted stop
            readings, interval = session_energy_samples(
                await uow.sessions.energy_samples(cmd.charger_id, str(cmd.transaction_id))
            )
            closed = session.close(
                cmd.meter_stop_wh, cmd.at, cmd.reason or "Local", readings, interval
            )
            if closed is not None:
                await uow.sessions.save(session)
                uow.emit(closed)
                await uow.commit()
                _report_meter(session)

    async def event_v201(self, cmd: TransactionEvent) -> Authorization | None:
        # Authorization first, outside the unit of work: it may ask accounts over HTTP.
        auth = await self.authorizer.authorize(cmd.id_token) if cmd.id_token else None
        async with self.uow() as uow:
            session = await uow.sessions.by_transaction(cmd.charger_id, cmd.transaction_id)
            if session is None:
                # Started, or the first event we see of a transaction whose Started was lost:
                # open it from what this event says (adopting the remote start it answers).
                pending = None
                if cmd.remote_start_id is not None:
                    pending = await uow.sessions.pending_start(
                        cmd.charger_id, 0, "", remote_start_id=cmd.remote_start_id
                    )
                session = pending or Session(
                    id=str(uuid.uuid4()),
                    charger_id=cmd.charger_id,
                    transaction_id=None,
                    evse_id=0,
                    connector_id=0,
                    started_at=cmd.at,
                )
                session.transaction_id, session.status = cmd.transaction_id, "active"
                session.evse_id = cmd.evse_id or session.evse_id
                session.connector_id = cmd.connector_id or session.connector_id
                session.started_at = cmd.at
                session.id_token = cmd.id_token or session.id_token
                session.meter_start_wh = cmd.meter_wh
                await self._attach_context(uow, session)
                if pending is None:
                    await uow.sessions.add(session)
                started_event = session  # emitted below, once the token is settled
            else:
                started_event = None
                if session.id_token is None and cmd.id_token:
                    session.id_token = cmd.id_token  # authorized after plug-in (E02)
            if auth is not None and cmd.id_token == session.id_token:
                if auth.status == "Accepted" and await uow.sessions.active_for_token(
                    cmd.id_token, besides=session.id
                ):
                    auth = replace(auth, status="ConcurrentTx")
                session.auth_status = auth.status
                session.customer_id = auth.customer_id or session.customer_id
            if started_event is not None:
                uow.emit(started_event.started())
            if session.status == "active" and session.meter_start_wh is None:
                session.meter_start_wh = cmd.meter_wh
            if cmd.offline:
                session.offline_events += 1
            session.accept_seq_no(cmd.seq_no)
            if cmd.event_type == "Ended" and session.status != "closed":
                readings, interval = session_energy_samples(
                    await uow.sessions.energy_samples(cmd.charger_id, cmd.transaction_id)
                )
                closed = session.close(
                    cmd.meter_wh, cmd.at, cmd.stopped_reason or "Local", readings, interval
                )
                if closed is not None:
                    uow.emit(closed)
                    _report_meter(session)
            await uow.sessions.save(session)
            await uow.commit()
        if session.status == "closed" and session.missing_seq_nos:
            log.warning(
                "transaction has TransactionEvents missing",
                extra={
                    "charger_id": cmd.charger_id,
                    "transaction_id": cmd.transaction_id,
                    "missing_seq_nos": session.seq_missing,
                },
            )
        return auth

    async def _attach_context(self, uow: CsmsUnitOfWork, session: Session) -> None:
        """What the session inherits at its start: the charger's tariff and the vehicle
        parking says stands at the bay."""
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
