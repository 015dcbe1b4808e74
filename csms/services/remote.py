"""Remote start and stop (1.6 RemoteStart/StopTransaction, 2.0.1 F01/F03 Request*Transaction).

A remote start exists as a `pending` session from the moment it is asked for, committed before
the command goes out, so the charger's transaction finds it however quickly it starts: 2.0.1
names it by remoteStartId, 1.6 by connector and idTag. A start nobody begins within
PENDING_FOR becomes `failed`. A stop sends the request and waits, bounded, for the charger to
end the transaction; the session closes when the charger says so, never before.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from chargepark.clock import Clock
from chargepark.errors import DomainError, Invalid
from csms.adapters.repository import CsmsUnitOfWork
from csms.adapters.session_queries import SessionQueries
from csms.adapters.tables import sessions
from csms.commands.port import CommandOutcome, CommandPort, CommandStatus
from csms.domain.sessions import Session

log = logging.getLogger(__name__)

PENDING_FOR = timedelta(minutes=3)  # longer than chargers' usual ConnectionTimeOut (1-2 min)
STOP_WAIT_SEC = 30.0
_POLL_SEC = 0.25
_ID_TOKEN_MAX = {"1.6": 20, "2.0.1": 36}  # 1.6 idTag is CiString20; 2.0.1 idToken string[36]


class _CommandProblem(DomainError):
    """A remote start or stop that did not go through; `extra` names the session."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.extra = extra


class CommandRefused(_CommandProblem):
    """The charger said no (Rejected), or could not be asked."""

    status = 409
    kind = "command-refused"


class ChargerFailed(_CommandProblem):
    """The charger answered with a CALLERROR, or with something we cannot read."""

    status = 502
    kind = "charger-error"


class ChargerSilent(_CommandProblem):
    status = 504
    kind = "charger-timeout"


@dataclass(frozen=True)
class RemoteStart:
    charger_id: str
    id_token: str
    evse_id: int | None = None  # None: the charger picks
    requested_by: str | None = None


@dataclass(frozen=True)
class StopResult:
    session: Session
    finished: bool  # False: the charger accepted but has not ended the transaction yet


async def _no_live_socket(charger_id: str) -> str | None:
    return None


class RemoteControl:
    def __init__(
        self,
        uow: Callable[[], CsmsUnitOfWork],
        queries: SessionQueries,
        commands: CommandPort,
        clock: Clock,
        *,
        live_version: Callable[[str], Awaitable[str | None]] = _no_live_socket,
        stop_wait_sec: float = STOP_WAIT_SEC,
    ) -> None:
        self.uow = uow
        self.queries = queries
        self.commands = commands
        self.clock = clock
        # The version of the charger's live socket, on whichever node holds it: a charger may
        # have come back speaking another version and not booted yet. Else the last boot's.
        self.live_version = live_version
        self.stop_wait_sec = stop_wait_sec

    async def start(self, cmd: RemoteStart) -> tuple[Session, CommandOutcome]:
        live = await self.live_version(cmd.charger_id)
        now = self.clock.now()
        async with self.uow() as uow:
            charger = await uow.chargers.get(cmd.charger_id)
            version = live or charger.ocpp_version
            if version not in _ID_TOKEN_MAX:
                raise CommandRefused(
                    "the charger has not booted yet: its OCPP version is unknown",
                    charger_id=cmd.charger_id,
                )
            if not 1 <= len(cmd.id_token) <= _ID_TOKEN_MAX[version]:
                raise Invalid(f"id_token: 1 to {_ID_TOKEN_MAX[version]} characters in {version}")
            session = Session.open(
                charger_id=cmd.charger_id,
                evse_id=cmd.evse_id or 0,
                connector_id=1 if cmd.evse_id else 0,
                at=now,
                id_token=cmd.id_token,
                # 2.0.1 remoteStartId is an integer the CSMS picks; unique per charger is enough.
                remote_start_id=secrets.randbelow(2**31 - 1) + 1,
            )
            session.regnum = await uow.sessions.vehicle_at(cmd.charger_id, session.evse_id)
            session.tariff_id = charger.tariff_id
            await uow.sessions.add(session)
            await uow.commit()
        outcome = await self.commands.send(
            cmd.charger_id,
            *_start_request(version, session),
            requested_by=cmd.requested_by,
        )
        if outcome.status is CommandStatus.TIMEOUT:
            # Unknown whether it started: the session stays pending; the transaction, if the
            # charger begins one, still finds it, else the sweeper fails it.
            return session, outcome
        if outcome.answered and outcome.response.get("status") == "Accepted":  # type: ignore[union-attr]
            existing = outcome.response.get("transactionId")  # type: ignore[union-attr]
            if existing is not None:  # 2.0.1: a transaction was already going (plugged in first)
                return await self._adopt_running(session, str(existing)), outcome
            return session, outcome
        await self._fail(session.id, _why(outcome, "RemoteStart"))
        raise _refusal(outcome, "start", session.id)

    async def stop(self, session_id: str, requested_by: str | None = None) -> StopResult:
        session = await self.queries.get(session_id)
        if session.status in ("closed", "failed"):
            return StopResult(session, finished=True)  # stopping twice is no error
        if session.status == "pending":
            await self._fail(session.id, "Cancelled")
            return StopResult(await self.queries.get(session_id), finished=True)
        version = await self._version(session.charger_id)
        outcome = await self.commands.send(
            session.charger_id, *_stop_request(version, session), requested_by=requested_by
        )
        if outcome.status is CommandStatus.TIMEOUT:
            raise ChargerSilent(
                "the charger did not answer the stop request", session_id=session_id
            )
        if not (outcome.answered and outcome.response.get("status") == "Accepted"):  # type: ignore[union-attr]
            raise _refusal(outcome, "stop", session_id)
        deadline = asyncio.get_running_loop().time() + self.stop_wait_sec
        while True:
            session = await self.queries.get(session_id)
            if session.status == "closed":
                return StopResult(session, finished=True)
            if asyncio.get_running_loop().time() >= deadline:
                return StopResult(session, finished=False)
            await asyncio.sleep(_POLL_SEC)

    async def expire_pending(self) -> int:
        """Fail the remote starts no transaction answered in time."""
        cutoff = self.clock.now() - PENDING_FOR
        async with self.uow() as uow:
            result = await uow.session.execute(
                update(sessions)
                .where(sessions.c.status == "pending", sessions.c.requested_at < cutoff)
                .values(status="failed", stop_reason="NotStarted", ended_at=self.clock.now())
            )
            await uow.commit()
        if result.rowcount:
            log.warning("remote starts never begun", extra={"sessions": result.rowcount})
        return int(result.rowcount or 0)

    async def _version(self, charger_id: str) -> str:
        async with self.uow() as uow:
            charger = await uow.chargers.get(charger_id)
        return await self.live_version(charger_id) or charger.ocpp_version or "1.6"

    async def _fail(self, session_id: str, reason: str) -> None:
        async with self.uow() as uow:
            await uow.session.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.status == "pending")
                .values(status="failed", stop_reason=reason[:32], ended_at=self.clock.now())
            )
            await uow.commit()

    async def _adopt_running(self, pending: Session, transaction_id: str) -> Session:
        """The charger already had a transaction on that EVSE and authorized it remotely: the
        caller gets that session; the placeholder is dropped."""
        async with self.uow() as uow:
            running = await uow.sessions.by_transaction(pending.charger_id, transaction_id)
            if running is None:
                return pending  # its TransactionEvent (with our remoteStartId) links it later
            await uow.session.execute(
                update(sessions)
                .where(sessions.c.id == pending.id, sessions.c.status == "pending")
                .values(status="failed", stop_reason="Merged", ended_at=self.clock.now())
            )
            await uow.commit()
        return running


def _start_request(version: str, session: Session) -> tuple[str, dict[str, Any]]:
    if version == "1.6":
        payload: dict[str, Any] = {"idTag": session.id_token}
        if session.evse_id:
            payload["connectorId"] = session.evse_id
        return "RemoteStartTransaction", payload
    payload = {
        "idToken": {"idToken": session.id_token, "type": "Central"},
        "remoteStartId": session.remote_start_id,
    }
    if session.evse_id:
        payload["evseId"] = session.evse_id
    return "RequestStartTransaction", payload


def _stop_request(version: str, session: Session) -> tuple[str, dict[str, Any]]:
    if version == "1.6":
        return "RemoteStopTransaction", {"transactionId": int(session.transaction_id or 0)}
    return "RequestStopTransaction", {"transactionId": session.transaction_id}


def _why(outcome: CommandOutcome, what: str) -> str:
    if outcome.answered:
        return f"{what}Rejected"
    return {
        CommandStatus.OFFLINE: "ChargerOffline",
        CommandStatus.ERROR: "ChargerError",
        CommandStatus.INVALID: "Invalid",
    }.get(outcome.status, "Failed")


def _refusal(outcome: CommandOutcome, what: str, session_id: str) -> DomainError:
    ids = {"session_id": session_id}
    if outcome.answered:
        return CommandRefused(f"the charger rejected the remote {what}", **ids)
    if outcome.status is CommandStatus.OFFLINE:
        return CommandRefused("the charger is not connected", **ids)
    if outcome.status is CommandStatus.INVALID:
        return Invalid(outcome.detail or f"not a valid remote {what} for this charger")
    if outcome.status is CommandStatus.ERROR:
        code = outcome.error.code if outcome.error else None
        return ChargerFailed(
            f"the charger answered the remote {what} with an error", ocpp_error=code, **ids
        )
    return ChargerFailed(outcome.detail or f"the remote {what} failed", **ids)
