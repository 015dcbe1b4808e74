"""OCPP 2.0.1 adapter: translates 2.0.1 messages into the version-free domain and back."""

from __future__ import annotations

from typing import Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import on
from ocpp.v201 import ChargePoint as _ChargePoint
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from chargepark.clock import isoformat_utc
from chargepark.errors import DomainError
from csms.domain.chargers import BootInfo, Registration
from csms.ocpp.adapter import Adapter, log
from csms.ocpp.base import ProtocolEdge
from csms.ocpp.readings import energy_register_wh
from csms.services.chargers import HEARTBEAT_INTERVAL_SEC, PENDING_RETRY_SEC, ReportStatus
from csms.services.sessions import Phase, SessionEvent

_PHASES: dict[str, Phase] = {"Started": "started", "Updated": "updated", "Ended": "ended"}


class ChargePoint(Adapter, ProtocolEdge, _ChargePoint):
    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **_: Any
    ) -> call_result.BootNotification:
        # Nested payloads arrive as dicts with snake_case keys.
        info = BootInfo(
            charging_station["vendor_name"],
            charging_station["model"],
            charging_station.get("serial_number"),
            charging_station.get("firmware_version"),
        )
        status = await self.service.boot(self.id, info, self.ocpp_version)
        interval = HEARTBEAT_INTERVAL_SEC if status == Registration.ACCEPTED else PENDING_RETRY_SEC
        self.booted(status == Registration.ACCEPTED)
        return call_result.BootNotification(
            current_time=isoformat_utc(self.clock.now()), interval=interval, status=str(status)
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:  # customData, Part 2 2.1.1
        return call_result.Heartbeat(current_time=isoformat_utc(self.clock.now()))

    @on(Action.status_notification)
    async def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **_: Any
    ) -> call_result.StatusNotification:
        try:
            await self.service.report_status(
                ReportStatus(
                    charger_id=self.id,
                    evse_id=evse_id,
                    connector_id=connector_id,
                    status=connector_status,
                    error_code=None,
                    info=None,
                    at=self.charger_time(timestamp),
                )
            )
        except DomainError as exc:
            log.info("status not recorded", extra={"charger_id": self.id, "reason": str(exc)})
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **_: Any) -> call_result.Authorize:
        auth = await self.transactions.authorize(id_token["id_token"])
        info: dict[str, Any] = {"status": auth.status}
        if auth.expires_at is not None:
            info["cache_expiry_date_time"] = isoformat_utc(auth.expires_at)
        return call_result.Authorize(id_token_info=info)

    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        meter_value: list[dict[str, Any]] | None = None,
        evse: dict[str, Any] | None = None,
        id_token: dict[str, Any] | None = None,
        offline: bool = False,
        **_: Any,
    ) -> call_result.TransactionEvent:
        at = self.charger_time(timestamp)  # refused before anything is stored
        if meter_value:
            await self.store_samples(
                evse.get("id", 0) if evse else 0,
                evse.get("connector_id", 0) if evse else 0,
                transaction_info["transaction_id"],
                meter_value,
            )
        auth = await self.transactions.record(
            SessionEvent(
                charger_id=self.id,
                transaction_id=transaction_info["transaction_id"],
                phase=_PHASES.get(event_type, "updated"),  # the schema allows only these
                at=at,
                charger_numbers=True,  # 2.0.1 transaction ids are the charger's
                seq_no=seq_no,
                evse_id=evse.get("id") if evse else None,
                connector_id=evse.get("connector_id") if evse else None,
                id_token=id_token["id_token"] if id_token else None,
                meter_wh=energy_register_wh(meter_value),
                reason=transaction_info.get("stopped_reason"),
                offline=offline,
                remote_start_id=transaction_info.get("remote_start_id"),
            )
        )
        if auth is None:
            return call_result.TransactionEvent()
        return call_result.TransactionEvent(id_token_info={"status": auth.status})

    @on(Action.meter_values)
    async def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **_: Any
    ) -> call_result.MeterValues:
        await self.store_samples(evse_id, 0, None, meter_value)
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(self, vendor_id: str, **payload: Any) -> call_result.DataTransfer:
        await self.keep("DataTransfer", {"vendor_id": vendor_id, **payload})
        return call_result.DataTransfer(status="UnknownVendorId")  # no vendor extensions yet

    @on(Action.firmware_status_notification)
    async def on_firmware_status(self, **payload: Any) -> Any:
        await self.keep("FirmwareStatusNotification", payload)
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status(self, **payload: Any) -> Any:
        await self.keep("LogStatusNotification", payload)
        return call_result.LogStatusNotification()

    @on(Action.security_event_notification)
    async def on_security_event(self, **payload: Any) -> Any:
        await self.keep_security_event(payload)
        return call_result.SecurityEventNotification()

    @on(Action.notify_event)
    async def on_notify_event(self, **payload: Any) -> Any:
        await self.keep("NotifyEvent", payload)
        return call_result.NotifyEvent()

    @on(Action.notify_report)
    async def on_notify_report(self, **payload: Any) -> Any:
        await self.keep("NotifyReport", payload)
        if self.smart_charging is not None and payload.get("report_data"):
            await self.smart_charging.report_seen(self.id, snake_to_camel_case(payload))
        return call_result.NotifyReport()

    # K: smart charging. What the charger reports is kept per charger (and EVSE) for the
    # energy manager; without smart charging wired, each is acknowledged only.

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(self, **payload: Any) -> Any:
        if self.smart_charging is not None:
            await self.smart_charging.profiles_reported(self.id, snake_to_camel_case(payload))
        return call_result.ReportChargingProfiles()

    @on(Action.notify_charging_limit)
    async def on_notify_charging_limit(self, **payload: Any) -> Any:
        if self.smart_charging is not None:
            await self.smart_charging.limit_reported(self.id, snake_to_camel_case(payload))
        return call_result.NotifyChargingLimit()

    @on(Action.cleared_charging_limit)
    async def on_cleared_charging_limit(
        self, charging_limit_source: str, evse_id: int | None = None, **_: Any
    ) -> Any:
        if self.smart_charging is not None:
            await self.smart_charging.store.clear_external_limit(
                self.id, charging_limit_source, evse_id
            )
        return call_result.ClearedChargingLimit()

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(self, **payload: Any) -> Any:
        # Accepted: csms answers the car's needs with a TxProfile of its own (the energy
        # manager's allocation), not with the schedule the car would get on Processing.
        if self.smart_charging is not None:
            await self.smart_charging.needs_reported(self.id, snake_to_camel_case(payload))
        return call_result.NotifyEVChargingNeeds(status="Accepted")

    @on(Action.notify_ev_charging_schedule)
    async def on_notify_ev_charging_schedule(self, **payload: Any) -> Any:
        if self.smart_charging is not None:
            await self.smart_charging.ev_schedule_reported(self.id, snake_to_camel_case(payload))
        return call_result.NotifyEVChargingSchedule(status="Accepted")
