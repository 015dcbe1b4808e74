"""OCPP 1.6J: the messages the simulator sends and the commands it answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as _ChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from simulators.chargepoint import settings as keys
from simulators.chargepoint.client import FollowUps, VersionAdapter
from simulators.chargepoint.evse import Evse, Transaction

if TYPE_CHECKING:
    from simulators.chargepoint.core import ChargePointSimulator

VENDOR_ID = "chargepark"  # DataTransfer: messageId "echo" answers the data back


def sampled(e: Evse, context: str, measurands: str) -> list[dict[str, Any]]:
    wanted = set(measurands.split(","))
    values = [
        {
            "value": str(round(e.meter_wh)),
            "context": context,
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
        }
    ]
    if "Power.Active.Import" in wanted:
        values.append(
            {
                "value": str(round(e.power_w)),
                "context": context,
                "measurand": "Power.Active.Import",
                "unit": "W",
            }
        )
    if "SoC" in wanted and e.vehicle is not None:
        values.append(
            {
                "value": str(round(e.vehicle.soc * 100)),
                "context": context,
                "measurand": "SoC",
                "unit": "Percent",
            }
        )
    return values


class V16(VersionAdapter):
    subprotocol = "ocpp1.6"

    def client(self, ws: Any) -> Client16:
        return Client16(self.sim, ws)

    def boot(self, reason: str) -> Any:
        cfg = self.sim.config
        return call.BootNotification(
            charge_point_vendor=cfg.vendor,
            charge_point_model=cfg.model,
            charge_point_serial_number=cfg.serial_number,
            firmware_version=cfg.firmware_version,
        )

    def heartbeat(self) -> Any:
        return call.Heartbeat()

    def station_status(self) -> list[Any]:
        status = "Available" if self.sim.station_operative else "Unavailable"
        return [
            call.StatusNotification(
                connector_id=0, error_code="NoError", status=status, timestamp=self.now()
            )
        ]

    def status(self, e: Evse, status: str) -> list[Any]:
        return [
            call.StatusNotification(
                connector_id=e.id,
                error_code=e.fault or "NoError",
                status=status,
                timestamp=self.now(),
            )
        ]

    def authorize(self, id_token: str) -> Any:
        return call.Authorize(id_tag=id_token)

    def auth_status(self, result: Any) -> str:
        return result.id_tag_info["status"]

    def reset_reason(self, kind: str) -> str:
        return "HardReset" if kind == "Hard" else "SoftReset"

    # --- transaction messages (queued) ----------------------------------------------------

    def tx_started(self, e: Evse, tx: Transaction, trigger: str) -> None:
        at = self.now()

        def build() -> Any:
            return call.StartTransaction(
                connector_id=e.id,
                id_tag=tx.id_token or "",
                meter_start=tx.meter_start_wh,
                timestamp=at,
            )

        def answered(result: Any) -> None:
            tx.transaction_id = str(result.transaction_id)
            self.sim.tx_verdict(e, tx, result.id_tag_info["status"])

        self.sim.enqueue("StartTransaction", build, answered)

    def tx_meter(self, e: Evse, tx: Transaction) -> None:
        value = {
            "timestamp": self.now(),
            "sampled_value": sampled(
                e, "Sample.Periodic", self.sim.settings["MeterValuesSampledData"]
            ),
        }

        def build() -> Any:
            tid = int(tx.transaction_id) if tx.transaction_id else None
            return call.MeterValues(connector_id=e.id, transaction_id=tid, meter_value=[value])

        self.sim.enqueue("MeterValues", build)

    def tx_updated(self, e: Evse, tx: Transaction, trigger: str) -> None:
        return None  # 1.6 tells charging state changes through StatusNotification

    def tx_ended(
        self, e: Evse, tx: Transaction, reason: str, id_token: str | None, trigger: str | None
    ) -> None:
        at = self.now()
        meter = round(e.meter_wh)
        data = [{"timestamp": at, "sampled_value": sampled(e, "Transaction.End", "")}]

        def build() -> Any:
            return call.StopTransaction(
                meter_stop=meter,
                timestamp=at,
                transaction_id=int(tx.transaction_id or 0),
                reason=reason,
                id_tag=id_token,
                transaction_data=data,
            )

        self.sim.enqueue("StopTransaction", build)

    async def meter_now(self, e: Evse) -> None:
        """A MeterValues asked for by TriggerMessage: sent at once, not queued."""
        tx = e.tx
        tid = int(tx.transaction_id) if tx is not None and tx.transaction_id else None
        self.sim.advance(e)
        value = {
            "timestamp": self.now(),
            "sampled_value": sampled(e, "Trigger", self.sim.settings["MeterValuesSampledData"]),
        }
        await self.sim.try_call(
            call.MeterValues(connector_id=e.id, transaction_id=tid, meter_value=[value])
        )


class Client16(FollowUps, _ChargePoint):
    sim: ChargePointSimulator

    def _note(self, text: str) -> None:
        self.sim.emit("command", text)

    @on(Action.reset)
    async def on_reset(self, type: str, **_: Any) -> Any:
        self._note(f"Reset {type}")
        self.sim.schedule_reset(type, immediate=True)
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    async def on_unlock(self, connector_id: int, **_: Any) -> Any:
        self._note(f"UnlockConnector {connector_id}")
        status = self.sim.unlock(connector_id)
        return call_result.UnlockConnector(
            status="UnlockFailed" if status == "UnknownConnector" else status
        )

    @on(Action.change_availability)
    async def on_change_availability(self, connector_id: int, type: str, **_: Any) -> Any:
        self._note(f"ChangeAvailability {connector_id} {type}")
        status = self.sim.set_availability(connector_id, type == "Operative")
        if connector_id == 0 and status != "Rejected":
            self.sim.later(self._report_station)
        return call_result.ChangeAvailability(status=status)

    async def _report_station(self) -> None:
        for request in self.sim.protocol.station_status():
            await self.sim.try_call(request)

    @on(Action.change_configuration)
    async def on_change_configuration(self, key: str, value: str, **_: Any) -> Any:
        problem = keys.check(key, value)
        status = {None: "Accepted", "unknown": "NotSupported"}.get(problem, "Rejected")
        if problem is None:
            self.sim.settings[key] = value
        self._note(f"ChangeConfiguration {key}={value}: {status}")
        return call_result.ChangeConfiguration(status=status)

    @on(Action.get_configuration)
    async def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> Any:
        names = key if key else [k.name for k in keys.KEYS]
        known = [
            {"key": n, "readonly": keys.BY_NAME[n].readonly, "value": self.sim.settings[n]}
            for n in names
            if n in keys.BY_NAME
        ]
        unknown = [n for n in names if n not in keys.BY_NAME]
        self._note(f"GetConfiguration ({len(known)} known, {len(unknown)} unknown)")
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on(Action.clear_cache)
    async def on_clear_cache(self, **_: Any) -> Any:
        self.sim.auth_cache.clear()
        self._note("ClearCache")
        return call_result.ClearCache(status="Accepted")

    @on(Action.trigger_message)
    async def on_trigger_message(
        self, requested_message: str, connector_id: int | None = None, **_: Any
    ) -> Any:
        self._note(f"TriggerMessage {requested_message}")
        if connector_id is not None and connector_id != 0 and connector_id not in self.sim.evses:
            return call_result.TriggerMessage(status="Rejected")
        evses = [self.sim.evses[connector_id]] if connector_id else list(self.sim.evses.values())
        sim = self.sim
        if requested_message == "BootNotification":
            self.sim.later(lambda: sim.try_call(sim.protocol.boot("Triggered")))
        elif requested_message == "Heartbeat":
            self.sim.later(lambda: sim.try_call(sim.protocol.heartbeat()))
        elif requested_message == "StatusNotification":

            async def statuses() -> None:
                if not connector_id:
                    await self._report_station()
                for e in evses:
                    await sim.report(e, force=True)

            self.sim.later(statuses)
        elif requested_message == "MeterValues":

            async def meters() -> None:
                for e in evses:
                    await sim.protocol.meter_now(e)

            self.sim.later(meters)
        elif requested_message == "DiagnosticsStatusNotification":
            self.sim.later(lambda: sim.try_call(call.DiagnosticsStatusNotification(status="Idle")))
        elif requested_message == "FirmwareStatusNotification":
            self.sim.later(lambda: sim.try_call(call.FirmwareStatusNotification(status="Idle")))
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.data_transfer)
    async def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None, **_: Any
    ) -> Any:
        self._note(f"DataTransfer {vendor_id} {message_id or ''}".rstrip())
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id != "echo":
            return call_result.DataTransfer(status="UnknownMessageId")
        return call_result.DataTransfer(status="Accepted", data=data)

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_: Any) -> Any:
        self._note("GetLocalListVersion")
        return call_result.GetLocalListVersion(list_version=self.sim.local_list_version)

    @on(Action.send_local_list)
    async def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        entries = {
            x["id_tag"]: (x.get("id_tag_info") or {}).get("status")
            for x in local_authorization_list or []
        }
        status = apply_local_list(self.sim, list_version, update_type, entries)
        self._note(f"SendLocalList {update_type} v{list_version}: {status}")
        return call_result.SendLocalList(status=status)

    @on(Action.reserve_now)
    async def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, **_: Any
    ) -> Any:
        status = self.sim.reserve(connector_id or None, reservation_id, id_tag, expiry_date)
        self._note(f"ReserveNow {reservation_id} on {connector_id}: {status}")
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        ok = self.sim.cancel_reservation(reservation_id)
        self._note(f"CancelReservation {reservation_id}: {'Accepted' if ok else 'Rejected'}")
        return call_result.CancelReservation(status="Accepted" if ok else "Rejected")

    @on(Action.remote_start_transaction)
    async def on_remote_start(self, id_tag: str, connector_id: int | None = None, **_: Any) -> Any:
        ok, _e = self.sim.remote_start(connector_id, id_tag, None)
        self._note(f"RemoteStartTransaction {id_tag}: {'Accepted' if ok else 'Rejected'}")
        return call_result.RemoteStartTransaction(status="Accepted" if ok else "Rejected")

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int, **_: Any) -> Any:
        e = self.sim.find_tx(str(transaction_id))
        self._note(f"RemoteStopTransaction {transaction_id}: {'Accepted' if e else 'Rejected'}")
        if e is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        evse_id = e.id
        self.sim.later(lambda: self.sim.end_transaction(evse_id, "Remote", trigger="RemoteStop"))
        return call_result.RemoteStopTransaction(status="Accepted")


def apply_local_list(
    sim: ChargePointSimulator, version: int, update_type: str, entries: dict[str, str | None]
) -> str:
    """Full replaces the list; Differential adds, changes, and removes entries without a
    status. Answers the 1.6/2.0.1 status."""
    if not sim.setting_bool("LocalAuthListEnabled"):
        return "Failed" if sim.config.ocpp == "2.0.1" else "NotSupported"
    if update_type == "Differential":
        if version <= sim.local_list_version:
            return "VersionMismatch"
        for token, status in entries.items():
            if status is None:
                sim.local_list.pop(token, None)
            else:
                sim.local_list[token] = status
    else:
        sim.local_list = {t: s for t, s in entries.items() if s is not None}
    sim.local_list_version = version
    return "Accepted"
