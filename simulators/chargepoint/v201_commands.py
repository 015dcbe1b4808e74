"""OCPP 2.0.1: the commands the CSMS sends a charger, answered (the messages the charger
sends are in v201.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint as _ChargePoint
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from simulators.chargepoint import settings as keys
from simulators.chargepoint.client import VENDOR_ID, FollowUps, apply_local_list
from simulators.chargepoint.profile_wire import BadProfile, parse201
from simulators.chargepoint.v201_smart import Smart201

if TYPE_CHECKING:
    from simulators.chargepoint.core import ChargePointSimulator
    from simulators.chargepoint.v201 import V201

REPORT_CHUNK = 20


class Client201(FollowUps, Smart201, _ChargePoint):
    sim: ChargePointSimulator

    def _note(self, text: str) -> None:
        self.sim.emit("command", text)

    @property
    def v(self) -> V201:
        return self.sim.protocol  # type: ignore[return-value]

    @on(Action.reset)
    async def on_reset(self, type: str, evse_id: int | None = None, **_: Any) -> Any:
        self._note(f"Reset {type}" + (f" EVSE {evse_id}" if evse_id else ""))
        if evse_id:
            return call_result.Reset(status="Rejected")  # whole-station resets only
        return call_result.Reset(status=self.sim.schedule_reset(type, type == "Immediate"))

    @on(Action.unlock_connector)
    async def on_unlock(self, evse_id: int, connector_id: int, **_: Any) -> Any:
        self._note(f"UnlockConnector {evse_id}/{connector_id}")
        e = self.sim.evses.get(evse_id)
        if e is None or not 1 <= connector_id <= e.connectors:
            return call_result.UnlockConnector(status="UnknownConnector")
        if e.tx is not None:
            return call_result.UnlockConnector(status="OngoingAuthorizedTransaction")
        return call_result.UnlockConnector(status=self.sim.unlock(evse_id))

    @on(Action.change_availability)
    async def on_change_availability(
        self, operational_status: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        evse_id = (evse or {}).get("id") or None
        self._note(f"ChangeAvailability {operational_status} {evse_id or 'station'}")
        status = self.sim.set_availability(evse_id, operational_status == "Operative")
        return call_result.ChangeAvailability(status=status)

    @on(Action.get_variables)
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in get_variable_data:
            component, variable = item["component"], item["variable"]
            attribute = item.get("attribute_type")
            value, problem = self.v.variable(component["name"], variable["name"])
            result: dict[str, Any] = {"component": component, "variable": variable}
            if problem is not None:
                result["attribute_status"] = problem
            elif attribute not in (None, "Actual"):
                result["attribute_status"] = "NotSupportedAttributeType"
            else:
                result["attribute_status"] = "Accepted"
                result["attribute_value"] = value
            if attribute is not None:
                result["attribute_type"] = attribute
            results.append(result)
        self._note(f"GetVariables ({len(results)})")
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    async def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> Any:
        results = []
        for item in set_variable_data:
            component, variable = item["component"], item["variable"]
            attribute = item.get("attribute_type")
            name = (component["name"], variable["name"])
            problem = self.v.variable(*name)[1]
            key = keys.VARIABLES.get(name)
            if problem is not None:
                status = problem
            elif attribute not in (None, "Actual"):
                status = "NotSupportedAttributeType"
            elif key is None or keys.check(key, str(item["attribute_value"])) is not None:
                status = "Rejected"
            else:
                self.sim.settings[key] = str(item["attribute_value"])
                status = "Accepted"
            result: dict[str, Any] = {
                "attribute_status": status,
                "component": component,
                "variable": variable,
            }
            if attribute is not None:
                result["attribute_type"] = attribute
            results.append(result)
            self._note(f"SetVariables {name[0]}.{name[1]}={item['attribute_value']}: {status}")
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.get_base_report)
    async def on_get_base_report(self, request_id: int, report_base: str, **_: Any) -> Any:
        self._note(f"GetBaseReport {report_base} ({request_id})")
        data = self.v.report_data()
        sim = self.sim

        async def report() -> None:
            chunks = [data[i : i + REPORT_CHUNK] for i in range(0, len(data), REPORT_CHUNK)]
            for seq, chunk in enumerate(chunks):
                await sim.try_call(
                    call.NotifyReport(
                        request_id=request_id,
                        generated_at=self.v.now(),
                        seq_no=seq,
                        report_data=chunk,
                        tbc=seq < len(chunks) - 1,
                    )
                )

        self.sim.later(report)
        return call_result.GetBaseReport(status="Accepted")

    @on(Action.clear_cache)
    async def on_clear_cache(self, **_: Any) -> Any:
        self.sim.auth_cache.clear()
        self._note("ClearCache")
        return call_result.ClearCache(status="Accepted")

    @on(Action.trigger_message)
    async def on_trigger_message(
        self, requested_message: str, evse: dict[str, Any] | None = None, **_: Any
    ) -> Any:
        self._note(f"TriggerMessage {requested_message}")
        sim = self.sim
        evse_id = (evse or {}).get("id")
        if evse_id is not None and evse_id not in sim.evses:
            return call_result.TriggerMessage(status="Rejected")
        evses = [sim.evses[evse_id]] if evse_id else list(sim.evses.values())
        if requested_message == "BootNotification":
            if sim.registration == "Accepted":
                return call_result.TriggerMessage(status="Rejected")  # F06.FR.17
            sim.later(lambda: sim.try_call(self.v.boot("Triggered")))
        elif requested_message == "Heartbeat":
            sim.later(lambda: sim.try_call(self.v.heartbeat()))
        elif requested_message == "StatusNotification":

            async def statuses() -> None:
                for e in evses:
                    await sim.report(e, force=True)

            sim.later(statuses)
        elif requested_message == "MeterValues":

            async def meters() -> None:
                for e in evses:
                    await self.v.meter_now(e)

            sim.later(meters)
        elif requested_message == "TransactionEvent":
            for e in evses:
                if e.tx is not None:
                    sim.advance(e)
                    self.v._event(e, e.tx, "Updated", "Trigger", "Trigger")
        elif requested_message == "FirmwareStatusNotification":
            sim.later(lambda: sim.try_call(call.FirmwareStatusNotification(status="Idle")))
        elif requested_message == "LogStatusNotification":
            sim.later(lambda: sim.try_call(call.LogStatusNotification(status="Idle")))
        else:
            return call_result.TriggerMessage(status="NotImplemented")
        return call_result.TriggerMessage(status="Accepted")

    @on(Action.data_transfer)
    async def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: Any = None, **_: Any
    ) -> Any:
        self._note(f"DataTransfer {vendor_id} {message_id or ''}".rstrip())
        if vendor_id != VENDOR_ID:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id != "echo":
            return call_result.DataTransfer(status="UnknownMessageId")
        return call_result.DataTransfer(status="Accepted", data=data)

    @on(Action.get_transaction_status)
    async def on_get_transaction_status(self, transaction_id: str | None = None, **_: Any) -> Any:
        self._note(f"GetTransactionStatus {transaction_id or ''}".rstrip())
        queued = self.sim.queue.holds(transaction_id)
        if transaction_id is None:
            return call_result.GetTransactionStatus(messages_in_queue=queued)
        ongoing = self.sim.find_tx(transaction_id) is not None
        return call_result.GetTransactionStatus(messages_in_queue=queued, ongoing_indicator=ongoing)

    @on(Action.reserve_now)
    async def on_reserve_now(
        self,
        id: int,
        expiry_date_time: str,
        id_token: dict[str, Any],
        evse_id: int | None = None,
        **_: Any,
    ) -> Any:
        status = self.sim.reserve(evse_id, id, id_token["id_token"], expiry_date_time)
        self._note(f"ReserveNow {id}: {status}")
        return call_result.ReserveNow(status=status)

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, reservation_id: int, **_: Any) -> Any:
        ok = self.sim.cancel_reservation(reservation_id)
        self._note(f"CancelReservation {reservation_id}: {'Accepted' if ok else 'Rejected'}")
        return call_result.CancelReservation(status="Accepted" if ok else "Rejected")

    @on(Action.get_local_list_version)
    async def on_get_local_list_version(self, **_: Any) -> Any:
        return call_result.GetLocalListVersion(version_number=self.sim.local_list_version)

    @on(Action.send_local_list)
    async def on_send_local_list(
        self,
        version_number: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
        **_: Any,
    ) -> Any:
        entries = {
            x["id_token"]["id_token"]: (x.get("id_token_info") or {}).get("status")
            for x in local_authorization_list or []
        }
        status = apply_local_list(self.sim, version_number, update_type, entries)
        return call_result.SendLocalList(status=status)

    @on(Action.request_start_transaction)
    async def on_request_start(
        self,
        id_token: dict[str, Any],
        remote_start_id: int,
        evse_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
        **_: Any,
    ) -> Any:
        token = id_token["id_token"]
        profile = None
        if charging_profile is not None:
            try:
                profile = parse201(evse_id or 0, charging_profile)
            except BadProfile:
                return call_result.RequestStartTransaction(status="Rejected")
            if profile.purpose != "TxProfile":  # K05.FR.03: only a TxProfile
                return call_result.RequestStartTransaction(status="Rejected")
        ok, _e = self.sim.remote_start(evse_id, token, remote_start_id, profile)
        self._note(f"RequestStartTransaction {token}: {'Accepted' if ok else 'Rejected'}")
        return call_result.RequestStartTransaction(status="Accepted" if ok else "Rejected")

    @on(Action.request_stop_transaction)
    async def on_request_stop(self, transaction_id: str, **_: Any) -> Any:
        e = self.sim.find_tx(transaction_id)
        self._note(f"RequestStopTransaction: {'Accepted' if e else 'Rejected'}")
        if e is None:
            return call_result.RequestStopTransaction(status="Rejected")
        evse_id = e.id
        self.sim.later(lambda: self.sim.end_transaction(evse_id, "Remote", trigger="RemoteStop"))
        return call_result.RequestStopTransaction(status="Accepted")
