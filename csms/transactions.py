"""Transaction use cases (E01-E07 / 1.6 Start/StopTransaction): sessions opened and closed as
chargers really behave: retransmitted starts after a reconnect, stops for unknown ids,
TransactionEvents replayed after an offline period, Ended arriving for a start never seen."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chargepark.clock import Clock
from csms.authorization import Authorization, Authorizer
from csms.repository import CsmsUnitOfWork
from csms.sessions import Session

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartTransaction:  # 1.6
    charger_id: str
    connector_id: int
    id_tag: str
    meter_start_wh: int
    at: datetime


@dataclass(frozen=True)
class StopTransaction:  # 1.6
    charger_id: str
    transaction_id: int
    meter_stop_wh: int
    at: datetime
    reason: str | None


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


class TransactionService:
    def __init__(
        self, uow: Callable[[], CsmsUnitOfWork], clock: Clock, authorizer: Authorizer
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.authorizer = authorizer

    async def start_v16(self, cmd: StartTransaction) -> tuple[int, Authorization]:
        auth = await self.authorizer.authorize(cmd.id_tag)  # outside the transaction: HTTP
        evse_id, connector_id = (0, 0) if cmd.connector_id == 0 else (cmd.connector_id, 1)
        # A charger that lost the answer sends the same start again: same transactionId back.
        start_key = f"{cmd.connector_id}|{cmd.id_tag}|{cmd.meter_start_wh}|{cmd.at.isoformat()}"
        async with self.uow() as uow:
            existing = await uow.sessions.by_start_key(cmd.charger_id, start_key)
            if existing is not None:
                return int(existing.transaction_id), auth
            tx_id = await uow.sessions.next_transaction_id(cmd.charger_id)
            session = Session(
                id=str(uuid.uuid4()),
                charger_id=cmd.charger_id,
                transaction_id=str(tx_id),
                evse_id=evse_id,
                connector_id=connector_id,
                started_at=cmd.at,
                id_token=cmd.id_tag,
                customer_id=auth.customer_id,
                start_key=start_key,
                meter_start_wh=cmd.meter_start_wh,
            )
            await uow.sessions.add(session)
            uow.emit(session.started())
            await uow.commit()
        return tx_id, auth

    async def stop_v16(self, cmd: StopTransaction) -> None:
        async with self.uow() as uow:
            session = await uow.sessions.by_transaction(cmd.charger_id, str(cmd.transaction_id))
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
                return
            closed = session.close(cmd.meter_stop_wh, cmd.at, cmd.reason or "Local")
            if closed is not None:
                await uow.sessions.save(session)
                uow.emit(closed)
                await uow.commit()

    async def event_v201(self, cmd: TransactionEvent) -> Authorization | None:
        # Authorization first, outside the unit of work: it may ask accounts over HTTP.
        auth = await self.authorizer.authorize(cmd.id_token) if cmd.id_token else None
        async with self.uow() as uow:
            session = await uow.sessions.by_transaction(cmd.charger_id, cmd.transaction_id)
            if session is None:
                # Started, or the first event we see of a transaction whose Started was lost:
                # open it from what this event says.
                session = Session(
                    id=str(uuid.uuid4()),
                    charger_id=cmd.charger_id,
                    transaction_id=cmd.transaction_id,
                    evse_id=cmd.evse_id or 0,
                    connector_id=cmd.connector_id or 0,
                    started_at=cmd.at,
                    id_token=cmd.id_token,
                    meter_start_wh=cmd.meter_wh,
                    customer_id=auth.customer_id if auth else None,
                )
                await uow.sessions.add(session)
                uow.emit(session.started())
            elif session.id_token is None and cmd.id_token:
                session.id_token = cmd.id_token  # authorized after plug-in (E02)
                session.customer_id = auth.customer_id if auth else None
            if session.status == "active" and session.meter_start_wh is None:
                session.meter_start_wh = cmd.meter_wh
            session.accept_seq_no(cmd.seq_no)
            if cmd.event_type == "Ended":
                closed = session.close(cmd.meter_wh, cmd.at, cmd.stopped_reason or "Local")
                if closed is not None:
                    uow.emit(closed)
            await uow.sessions.save(session)
            await uow.commit()
        return auth
