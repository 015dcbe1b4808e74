"""Chargers and their connectors: the version-free model both OCPP adapters translate into.

Pure rules, no I/O; times are passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chargepark.errors import Conflict, Invalid, NotFound
from chargepark.events.envelope import DomainEvent

# OCPP 2.0.1 identity: at most 48 characters; the URL path carries it, so no '/' or spaces.
_CHARGER_ID = re.compile(r"^[A-Za-z0-9*\-_=:+|@.]{1,48}$")


class Registration(StrEnum):
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class UnknownCharger(NotFound):
    pass


class ChargerExists(Conflict):
    pass


def valid_charger_id(raw: str) -> str:
    if not isinstance(raw, str) or not _CHARGER_ID.match(raw):
        raise Invalid("a charger id is 1-48 characters of A-Z a-z 0-9 * - _ = : + | @ .")
    return raw


@dataclass(frozen=True)
class BootInfo:
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None


@dataclass
class Connector:
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    status_at: datetime


@dataclass(frozen=True, kw_only=True)
class ChargerStatusChanged(DomainEvent):
    name = "ChargerStatusChanged"
    charger_id: str
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    info: str | None
    ts: datetime


@dataclass
class Charger:
    id: str
    registration: Registration
    created_at: datetime
    updated_at: datetime
    password_hash: str | None = None
    expected_vendor: str | None = None
    expected_model: str | None = None
    tariff_id: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    ocpp_version: str | None = None
    last_boot_at: datetime | None = None
    last_seen_at: datetime | None = None
    connectors: dict[tuple[int, int], Connector] = field(default_factory=dict)

    def boot(self, info: BootInfo, ocpp_version: str, at: datetime) -> Registration:
        """B01/B02: record what the charger says it is; answer its registration status.

        A charger that is not the vendor/model the operator registered is Rejected: a swapped
        or spoofed unit must not take over a known id.
        """
        self.vendor, self.model = info.vendor, info.model
        self.serial_number, self.firmware_version = info.serial_number, info.firmware_version
        self.ocpp_version, self.last_boot_at, self.last_seen_at = ocpp_version, at, at
        self.updated_at = at
        if (self.expected_vendor and info.vendor != self.expected_vendor) or (
            self.expected_model and info.model != self.expected_model
        ):
            return Registration.REJECTED
        return self.registration

    def report_status(
        self,
        evse_id: int,
        connector_id: int,
        status: str,
        error_code: str | None,
        info: str | None,
        at: datetime,
    ) -> ChargerStatusChanged | None:
        return report_status(
            self.id, self.connectors, evse_id, connector_id, status, error_code, info, at
        )


def report_status(
    charger_id: str,
    connectors: dict[tuple[int, int], Connector],
    evse_id: int,
    connector_id: int,
    status: str,
    error_code: str | None,
    info: str | None,
    at: datetime,
) -> ChargerStatusChanged | None:
    """Keep the newest status per connector (in `connectors`, a charger's). A report older than
    the one kept (a queued message delivered late) changes nothing; a repeat of the same status
    emits nothing."""
    key = (evse_id, connector_id)
    current = connectors.get(key)
    if current is not None and at < current.status_at:
        return None
    changed = current is None or (current.status, current.error_code) != (status, error_code)
    connectors[key] = Connector(evse_id, connector_id, status, error_code, info, at)
    if not changed:
        return None
    return ChargerStatusChanged(
        charger_id=charger_id,
        evse_id=evse_id,
        connector_id=connector_id,
        status=status,
        error_code=error_code,
        info=info,
        ts=at,
    )
