"""OCPP 1.6J adapter: translates 1.6 messages into the version-free domain and back.

A 1.6 connectorId n is EVSE n, connector 1; connectorId 0 is the whole charger (EVSE 0,
connector 0).
"""

from __future__ import annotations

from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as _ChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepark.clock import isoformat_utc
from chargepark.errors import DomainError
from csms.domain import BootInfo, Registration
from csms.ocpp.adapter import Adapter, log
from csms.ocpp.base import ProtocolEdge
from csms.service import HEARTBEAT_INTERVAL_SEC, PENDING_RETRY_SEC, ReportStatus


def evse_connector(connector_id: int) -> tuple[int, int]:
    return (0, 0) if connector_id == 0 else (connector_id, 1)


class ChargePoint(Adapter, ProtocolEdge, _ChargePoint):
    @on(Action.boot_notification)
    async def on_boot_notification(
        self,
        charge_point_vendor: str,
        charge_point_model: str,
        charge_point_serial_number: str | None = None,
        firmware_version: str | None = None,
        **_: Any,
    ) -> call_result.BootNotification:
        info = BootInfo(
            charge_point_vendor, charge_point_model, charge_point_serial_number, firmware_version
        )
        status = await self.service.boot(self.id, info, self.ocpp_version)
        interval = HEARTBEAT_INTERVAL_SEC if status == Registration.ACCEPTED else PENDING_RETRY_SEC
        return call_result.BootNotification(
            current_time=isoformat_utc(self.clock.now()), interval=interval, status=str(status)
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=isoformat_utc(self.clock.now()))

    @on(Action.status_notification)
    async def on_status_notification(
        self,
        connector_id: int,
        error_code: str,
        status: str,
        timestamp: str | None = None,
        info: str | None = None,
        vendor_error_code: str | None = None,
        **_: Any,
    ) -> call_result.StatusNotification:
        evse_id, connector = evse_connector(connector_id)
        detail = " ".join(p for p in (info, vendor_error_code) if p) or None
        try:
            await self.service.report_status(
                ReportStatus(
                    self.id,
                    evse_id,
                    connector,
                    status,
                    None if error_code == "NoError" else error_code,
                    detail,
                    self.charger_time(timestamp),
                )
            )
        except DomainError as exc:  # e.g. not registered yet (pending): acknowledged all the same
            log.info("status not recorded", extra={"charger_id": self.id, "reason": str(exc)})
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        auth = await self.authorizer.authorize(id_tag)
        # 1.6 has no "Unknown": an id tag the CSMS does not know is Invalid.
        info: dict[str, Any] = {"status": "Invalid" if auth.status == "Unknown" else auth.status}
        if auth.expires_at is not None:
            info["expiry_date"] = isoformat_utc(auth.expires_at)
        return call_result.Authorize(id_tag_info=info)
