"""csms use cases: the charger registry, and what chargers report (boot, status, presence)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from chargepark.clock import Clock
from chargepark.errors import Invalid
from chargepark.passwords import hash_password, verify_password
from csms.domain import BootInfo, Charger, Registration, valid_charger_id
from csms.repository import CsmsUnitOfWork

MIN_CHARGER_PASSWORD, MAX_CHARGER_PASSWORD = 16, 40  # OCPP security profiles 1/2
HEARTBEAT_INTERVAL_SEC = 300
PENDING_RETRY_SEC = 60


class Admission(Enum):
    """What the handshake does with a connecting charger id."""

    ACCEPT = "accept"  # known (and authenticated when it has a password)
    UNAUTHORIZED = "unauthorized"  # HTTP 401
    UNKNOWN_REJECT = "reject"  # unknown id, policy reject: refused at the handshake
    UNKNOWN_ADMIT = "admit"  # unknown id, policy pending/accept: registered on the fly


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class ReportStatus:
    charger_id: str
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    at: Any  # datetime


class ChargingService:
    def __init__(
        self, uow: Callable[[], CsmsUnitOfWork], clock: Clock, *, unknown_policy: str = "reject"
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.unknown_policy = unknown_policy

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
        return charger

    async def remove(self, charger_id: str) -> None:
        async with self.uow() as uow:
            await uow.chargers.remove(charger_id)
            await uow.commit()

    # -- the OCPP side --

    async def admit(self, charger_id: str, password: str | None) -> Admission:
        """Security profile 1/2 at the WebSocket handshake (username = charger id)."""
        async with self.uow() as uow:
            charger = await uow.chargers.find(charger_id)
        if charger is None:
            return (
                Admission.UNKNOWN_REJECT
                if self.unknown_policy == "reject"
                else Admission.UNKNOWN_ADMIT
            )
        if charger.password_hash is None:
            return Admission.ACCEPT
        if password is not None and await verify_password(charger.password_hash, password):
            return Admission.ACCEPT
        return Admission.UNAUTHORIZED

    async def boot(self, charger_id: str, info: BootInfo, ocpp_version: str) -> Registration:
        now = self.clock.now()
        async with self.uow() as uow:
            charger = await uow.chargers.find(charger_id, for_update=True)
            if charger is None:  # admitted under the pending/accept policy
                registration = (
                    Registration.ACCEPTED
                    if self.unknown_policy == "accept"
                    else Registration.PENDING
                )
                charger = Charger(
                    id=charger_id, registration=registration, created_at=now, updated_at=now
                )
                await uow.chargers.add(charger)
            answer = charger.boot(info, ocpp_version, now)
            await uow.chargers.save(charger)
            await uow.commit()
        return answer

    async def report_status(self, cmd: ReportStatus) -> None:
        async with self.uow() as uow:
            charger = await uow.chargers.get(cmd.charger_id, for_update=True)
            event = charger.report_status(
                cmd.evse_id, cmd.connector_id, cmd.status, cmd.error_code, cmd.info, cmd.at
            )
            await uow.chargers.save(charger)
            if event is not None:
                uow.emit(event)
            await uow.commit()

    async def record_seen(self, seen: dict[str, Any]) -> None:
        if not seen:
            return
        async with self.uow() as uow:
            await uow.chargers.touch(seen)
            await uow.commit()


async def _hashed(password: str | None) -> str | None:
    if password is None:
        return None
    if not MIN_CHARGER_PASSWORD <= len(password) <= MAX_CHARGER_PASSWORD:
        raise Invalid(f"a charger password has {MIN_CHARGER_PASSWORD} to 40 characters")
    return await hash_password(password)
