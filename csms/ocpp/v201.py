"""OCPP 2.0.1 adapter: translates 2.0.1 messages into the version-free domain and back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint as _ChargePoint
from ocpp.v201 import call_result
from ocpp.v201.enums import Action, RegistrationStatusEnumType

HEARTBEAT_INTERVAL_SEC = 300


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class ChargePoint(_ChargePoint):
    @on(Action.boot_notification)
    async def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        return call_result.BootNotification(
            current_time=_now(),
            interval=HEARTBEAT_INTERVAL_SEC,
            status=RegistrationStatusEnumType.accepted,
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    async def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()
