"""csms use cases: the charger registry, and what chargers report (boot, status, presence)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chargepark.clock import Clock
from chargepark.errors import Invalid
from chargepark.passwords import hash_password
from csms.adapters.repository import CsmsUnitOfWork
from csms.domain.chargers import BootInfo, Charger, Registration, valid_charger_id
from csms.hotpath.admission import Admission, ChargerAdmission
from csms.hotpath.boot_writer import BootWriter, RecordBoot
from csms.hotpath.connection_reports import ConnectionReports
from csms.hotpath.status_writer import ReportStatus, StatusWriter

log = logging.getLogger(__name__)
OFFLINE = "Offline"
RECHECK_CONNECTED = timedelta(minutes=1)

__all__ = ["Admission", "ChargingService", "ReportStatus"]

MIN_CHARGER_PASSWORD, MAX_CHARGER_PASSWORD = 16, 40  # OCPP security profiles 1/2
HEARTBEAT_INTERVAL_SEC = 300
PENDING_RETRY_SEC = 60


@dataclass(frozen=True, kw_only=True)
class RegisterCharger:
    id: str
    password: str | None = None
    vendor: str | None = None
    model: str | None = None
    tariff_id: str | None = None
    registration: Registration = Registration.ACCEPTED


@dataclass(frozen=True)
class ChangeCharger:
    id: str
    changes: dict[str, Any]  # password, vendor, model, tariff_id, registration (None clears)


class ChargingService:
    def __init__(
        self, uow: Callable[[], CsmsUnitOfWork], clock: Clock, *, unknown_policy: str = "reject"
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.unknown_policy = unknown_policy
        # The OCPP hot path: batched, each caller answered after its own commit.
        self.admission = ChargerAdmission(uow, unknown_policy)
        self.boots = BootWriter(
            uow, Registration.ACCEPTED if unknown_policy == "accept" else Registration.PENDING
        )
        self.statuses = StatusWriter(uow)
        self.connection_reports = ConnectionReports(self.statuses)

    # -- registry (REST) --

    async def register(self, cmd: RegisterCharger) -> Charger:
        now = self.clock.now()
        charger = Charger(
            id=valid_charger_id(cmd.id),
            registration=cmd.registration,
            created_at=now,
            updated_at=now,
            password_hash=await _hashed(cmd.password),
            expected_vendor=cmd.vendor,
            expected_model=cmd.model,
            tariff_id=cmd.tariff_id,
        )
        async with self.uow() as uow:
            await uow.chargers.add(charger)
            await uow.commit()
        self._forget(charger.id)
        return charger

    async def get(self, charger_id: str) -> Charger:
        async with self.uow() as uow:
            return await uow.chargers.get(charger_id)

    async def page(self, limit: int, offset: int) -> tuple[list[Charger], int]:
        async with self.uow() as uow:
            items, total = await uow.chargers.page(limit, offset)
            return list(items), total

    async def change(self, cmd: ChangeCharger) -> Charger:
        changes = dict(cmd.changes)
        if "password" in changes:
            changes["password_hash"] = await _hashed(changes.pop("password"))
        for public, column in (("vendor", "expected_vendor"), ("model", "expected_model")):
            if public in changes:
                changes[column] = changes.pop(public)
        if "registration" in changes:
            changes["registration"] = Registration(changes["registration"])
        async with self.uow() as uow:
            charger = await uow.chargers.get(cmd.id, for_update=True)
            for name, value in changes.items():
                setattr(charger, name, value)
            charger.updated_at = self.clock.now()
            await uow.chargers.save(charger)
            await uow.commit()
        self._forget(cmd.id)  # a new password applies from the next handshake
        return charger

    async def remove(self, charger_id: str) -> None:
        async with self.uow() as uow:
            await uow.chargers.remove(charger_id)
            await uow.commit()
        self._forget(charger_id)

    def _forget(self, charger_id: str) -> None:
        """What this process remembers of a charger the registry changed or removed."""
        self.admission.forget(charger_id)
        self.statuses.forget(charger_id)

    # -- the OCPP side --

    async def admit(self, charger_id: str, password: str | None) -> Admission:
        """Security profile 1/2 at the WebSocket handshake (username = charger id)."""
        return await self.admission.admit(charger_id, password)

    def connected(self, charger_id: str) -> None:
        """A charger's socket opened (or closed, `disconnected`) here: its connector state is
        read afresh at its next status report (it may have reported through another node).

        The charger as a whole (EVSE 0, connector 0) is reported Offline when its socket
        closes and Available again when one opens, if Offline is still what is kept: so a
        charger that went away is seen (ChargerStatusChanged; ops' offline rule) without a
        message of its own. Nothing is written per OCPP message, only per connection."""
        self.statuses.forget(charger_id)
        self._connection_status(charger_id, "Available", "connected", only_if=OFFLINE)

    async def recheck_connected(self, sockets: dict[str, tuple[str, datetime]]) -> None:
        """Chargers that connected here in the last minute are not left Offline by a close
        written after their connect (a charger moving between nodes: the old node's Offline
        may commit after the new node's check)."""
        recent = self.clock.now() - RECHECK_CONNECTED
        for charger_id, (_version, connected_at) in sockets.items():
            if connected_at >= recent:
                self._connection_status(charger_id, "Available", "connected", only_if=OFFLINE)

    def disconnected(self, charger_id: str) -> None:
        self.statuses.forget(charger_id)
        self._connection_status(charger_id, OFFLINE, "connection closed")

    def _connection_status(
        self, charger_id: str, status: str, info: str, *, only_if: str | None = None
    ) -> None:
        # Queued, never awaited: written in the background, the newest per charger.
        self.connection_reports.report(
            ReportStatus(
                charger_id=charger_id,
                evse_id=0,
                connector_id=0,
                status=status,
                error_code=None,
                info=info,
                at=self.clock.now(),
                only_if=only_if,
            )
        )

    async def boot(self, charger_id: str, info: BootInfo, ocpp_version: str) -> Registration:
        self.statuses.forget(charger_id)
        return await self.boots.boot(RecordBoot(charger_id, info, ocpp_version, self.clock.now()))

    async def report_status(self, cmd: ReportStatus) -> None:
        await self.statuses.report(cmd)

    async def record_seen(self, seen: dict[str, Any]) -> None:
        if not seen:
            return
        async with self.uow() as uow:
            await uow.chargers.touch(seen)
            await uow.commit()

    async def close(self) -> None:
        """Let queued boots, status reports and lookups finish."""
        await self.connection_reports.close()  # the closing connections' Offline reports
        await self.boots.close()
        await self.statuses.close()
        await self.admission.close()


async def _hashed(password: str | None) -> str | None:
    if password is None:
        return None
    if not MIN_CHARGER_PASSWORD <= len(password) <= MAX_CHARGER_PASSWORD:
        raise Invalid(f"a charger password has {MIN_CHARGER_PASSWORD} to 40 characters")
    return await hash_password(password)
