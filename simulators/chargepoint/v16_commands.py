"""OCPP 1.6J: the commands the CSMS sends a charger, answered (the messages the charger sends
are in v16.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint as _ChargePoint
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from simulators.chargepoint import settings as keys
from simulators.chargepoint.client import VENDOR_ID, FollowUps, apply_local_list
from simulators.chargepoint.profile_wire import BadProfile, parse16
from simulators.chargepoint.v16_smart import Smart16

if TYPE_CHECKING:
    from simulators.chargepoint.core import ChargePointSimulator


class Client16(FollowUps, Smart16, _ChargePoint):
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
    async def on_remote_start(
        self,
        id_tag: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        profile = None
        if charging_profile is not None:
            try:
                profile = parse16(connector_id or 0, charging_profile)
            except BadProfile:
                return call_result.RemoteStartTransaction(status="Rejected")
            if profile.purpose != "TxProfile":  # 1.6: only a TxProfile comes with a start
                return call_result.RemoteStartTransaction(status="Rejected")
        ok, _e = self.sim.remote_start(connector_id, id_tag, None, profile)
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
