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
from csms.domain.authorization import Authorization
from csms.domain.chargers import BootInfo, Registration
from csms.ocpp.adapter import Adapter, log, stamped_time
from csms.ocpp.base import ProtocolEdge
from csms.ocpp.readings import sample_rows
from csms.services.chargers import HEARTBEAT_INTERVAL_SEC, PENDING_RETRY_SEC, ReportStatus
from csms.services.sessions import SessionEvent, StartSession


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
        self.booted(status == Registration.ACCEPTED)
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
                    charger_id=self.id,
                    evse_id=evse_id,
                    connector_id=connector,
                    status=status,
                    error_code=None if error_code == "NoError" else error_code,
                    info=detail,
                    at=self.charger_time(timestamp),
                )
            )
        except DomainError as exc:  # e.g. not registered yet (pending): acknowledged all the same
            log.info("status not recorded", extra={"charger_id": self.id, "reason": str(exc)})
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        return call_result.Authorize(
            id_tag_info=id_tag_info(await self.transactions.authorize(id_tag))
        )

    @on(Action.start_transaction)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **_: Any
    ) -> call_result.StartTransaction:
        stamped = stamped_time(timestamp)
        evse_id, connector = evse_connector(connector_id)
        started = await self.transactions.start(
            StartSession(
                charger_id=self.id,
                evse_id=evse_id,
                connector_id=connector,
                id_token=id_tag,
                meter_start_wh=meter_start,
                at=self.within_clock(stamped, timestamp, "timestamp"),
                # The time as the charger stamped it, not ours if its clock is far off: a
                # retransmitted start carries the same stamp, whatever our clock says by then.
                start_key=f"{connector_id}|{id_tag}|{meter_start}|{stamped.isoformat()}",
            )
        )
        return call_result.StartTransaction(
            transaction_id=int(started.transaction_id), id_tag_info=id_tag_info(started.auth)
        )

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self,
        meter_stop: int,
        timestamp: str,
        transaction_id: int,
        reason: str | None = None,
        id_tag: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> call_result.StopTransaction:
        await self.transactions.record(
            SessionEvent(
                charger_id=self.id,
                transaction_id=str(transaction_id),
                phase="ended",
                at=self.charger_time(timestamp),
                charger_numbers=False,  # 1.6 transaction ids are ours
                meter_wh=meter_stop,
                reason=reason,
                # Stored with the close, in its transaction: the close reads them when the
                # start and stop registers fall short.
                samples=sample_rows(
                    self.id,
                    0,
                    0,
                    str(transaction_id),
                    transaction_data,
                    self.charger_time,
                    "transactionData",
                ),
            )
        )
        if id_tag is None:
            return call_result.StopTransaction()
        auth = await self.authorizer.authorize(id_tag)
        return call_result.StopTransaction(id_tag_info=id_tag_info(auth))

    @on(Action.meter_values)
    async def on_meter_values(
        self,
        connector_id: int,
        meter_value: list[dict[str, Any]],
        transaction_id: int | None = None,
        **_: Any,
    ) -> call_result.MeterValues:
        evse_id, connector = evse_connector(connector_id)
        tx = str(transaction_id) if transaction_id is not None else None
        await self.store_samples(evse_id, connector, tx, meter_value)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **payload: Any) -> call_result.DataTransfer:
        await self.keep("DataTransfer", {"vendor_id": vendor_id, **payload})
        return call_result.DataTransfer(status="UnknownVendorId")  # no vendor extensions yet

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status(self, **payload: Any) -> Any:
        await self.keep("DiagnosticsStatusNotification", payload)
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, **payload: Any) -> Any:
        await self.keep("FirmwareStatusNotification", payload)
        return call_result.FirmwareStatusNotification()

    # The 1.6 security whitepaper's messages (edition 2 extension of 1.6J).

    @on(Action.security_event_notification)
    async def on_security_event(self, **payload: Any) -> Any:
        await self.keep_security_event(payload)
        return call_result.SecurityEventNotification()

    @on(Action.log_status_notification)
    async def on_log_status(self, **payload: Any) -> Any:
        await self.keep("LogStatusNotification", payload)
        return call_result.LogStatusNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status(self, **payload: Any) -> Any:
        await self.keep("SignedFirmwareStatusNotification", payload)
        return call_result.SignedFirmwareStatusNotification()


def id_tag_info(auth: Authorization) -> dict[str, Any]:
    # 1.6 has no "Unknown": an id tag the CSMS does not know is Invalid.
    info: dict[str, Any] = {"status": "Invalid" if auth.status == "Unknown" else auth.status}
    if auth.expires_at is not None:
        info["expiry_date"] = isoformat_utc(auth.expires_at)
    return info
