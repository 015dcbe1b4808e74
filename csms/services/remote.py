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

from chargepark.clock import Clock
from chargepark.errors import DomainError, Invalid
from csms.domain.sessions import Session
from csms.ports.gateway import (
    ChargerFailed,
    ChargerGateway,
    ChargerSilent,
    CommandOutcome,
    CommandStatus,
    StartCharging,
)
from csms.ports.remote_starts import RemoteStarts

__all__ = [
    "PENDING_FOR",
    "ChargerFailed",
    "ChargerSilent",
    "CommandRefused",
    "RemoteControl",
    "RemoteStart",
    "StopResult",
]

log = logging.getLogger(__name__)

PENDING_FOR = timedelta(minutes=3)  # longer than chargers' usual ConnectionTimeOut (1-2 min)
STOP_WAIT_SEC = 30.0
_POLL_SEC = 0.25


class CommandRefused(DomainError):
    """The charger said no (Rejected), or could not be asked; `extra` names the session."""

    status = 409
    kind = "command-refused"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.extra = extra


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
        store: RemoteStarts,
        gateway: ChargerGateway,
        clock: Clock,
        *,
        live_version: Callable[[str], Awaitable[str | None]] = _no_live_socket,
        stop_wait_sec: float = STOP_WAIT_SEC,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.clock = clock
        # The version of the charger's live socket, on whichever node holds it: a charger may
        # have come back speaking another version and not booted yet. Else the last boot's.
        self.live_version = live_version
        self.stop_wait_sec = stop_wait_sec

    async def start(self, cmd: RemoteStart) -> tuple[Session, CommandOutcome]:
        live = await self.live_version(cmd.charger_id)
        now = self.clock.now()
        charger = await self.store.charger(cmd.charger_id)
        version = live or charger.ocpp_version
        if version is None or not self.gateway.speaks(version):
            raise CommandRefused(
                "the charger has not booted yet: its OCPP version is unknown",
                charger_id=cmd.charger_id,
            )
        longest = self.gateway.id_token_limit(version)
        if not 1 <= len(cmd.id_token) <= longest:
            raise Invalid(f"id_token: 1 to {longest} characters in {version}")
        session = Session.open(
            charger_id=cmd.charger_id,
            evse_id=cmd.evse_id or 0,
            connector_id=1 if cmd.evse_id else 0,
            at=now,
            id_token=cmd.id_token,
            # 2.0.1 remoteStartId is an integer the CSMS picks; unique per charger is enough.
            remote_start_id=secrets.randbelow(2**31 - 1) + 1,
        )
        session.regnum = await self.store.vehicle_at(cmd.charger_id, session.evse_id)
        session.tariff_id = charger.tariff_id
        await self.store.add(session)
        outcome = await self.gateway.start_charging(
            cmd.charger_id,
            version,
            StartCharging(session.id_token or "", session.remote_start_id or 0, cmd.evse_id),
            requested_by=cmd.requested_by,
        )
        if outcome.status is CommandStatus.TIMEOUT:
            # Unknown whether it started: the session stays pending; the transaction, if the
            # charger begins one, still finds it, else the sweeper fails it.
            return session, outcome
        answer = outcome.response if outcome.answered else None
        if answer is not None and answer.get("status") == "Accepted":
            existing = answer.get("transactionId")
            if existing is not None:  # 2.0.1: a transaction was already going (plugged in first)
                return await self._adopt_running(session, str(existing)), outcome
            return session, outcome
        await self.store.fail_pending(session.id, _why(outcome, "RemoteStart"), self.clock.now())
        raise _refusal(outcome, "start", session.id)

    async def stop(self, session_id: str, requested_by: str | None = None) -> StopResult:
        session = await self.store.get(session_id)
        if session.status in ("closed", "failed"):
            return StopResult(session, finished=True)  # stopping twice is no error
        if session.status == "pending":
            await self.store.fail_pending(session.id, "Cancelled", self.clock.now())
            return StopResult(await self.store.get(session_id), finished=True)
        version = await self._version(session.charger_id)
        outcome = await self.gateway.stop_charging(
            session.charger_id, version, session.transaction_id, requested_by=requested_by
        )
        if outcome.status is CommandStatus.TIMEOUT:
            raise ChargerSilent(
                "the charger did not answer the stop request", session_id=session_id
            )
        answer = outcome.response if outcome.answered else None
        if answer is None or answer.get("status") != "Accepted":
            raise _refusal(outcome, "stop", session_id)
        deadline = asyncio.get_running_loop().time() + self.stop_wait_sec
        while True:
            session = await self.store.get(session_id)
            if session.status == "closed":
                return StopResult(session, finished=True)
            if asyncio.get_running_loop().time() >= deadline:
                return StopResult(session, finished=False)
            await asyncio.sleep(_POLL_SEC)

    async def expire_pending(self) -> int:
        """Fail the remote starts no transaction answered in time."""
        now = self.clock.now()
        expired = await self.store.expire_pending(now - PENDING_FOR, now)
        if expired:
            log.warning("remote starts never begun", extra={"sessions": expired})
        return expired

    async def _version(self, charger_id: str) -> str:
        charger = await self.store.charger(charger_id)
        return await self.live_version(charger_id) or charger.ocpp_version or "1.6"

    async def _adopt_running(self, pending: Session, transaction_id: str) -> Session:
        """The charger already had a transaction on that EVSE and authorized it remotely: the
        caller gets that session; the placeholder is dropped."""
        running = await self.store.by_transaction(pending.charger_id, transaction_id)
        if running is None:
            return pending  # its TransactionEvent (with our remoteStartId) links it later
        await self.store.fail_pending(pending.id, "Merged", self.clock.now())
        return running


def _why(outcome: CommandOutcome, what: str) -> str:
    if outcome.answered:
        return f"{what}Rejected"
    return {
        CommandStatus.OFFLINE: "ChargerOffline",
        CommandStatus.ERROR: "ChargerError",
        CommandStatus.INVALID: "Invalid",
    }.get(outcome.status, "Failed")


def _refusal(outcome: CommandOutcome, what: str, session_id: str) -> Exception:
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
