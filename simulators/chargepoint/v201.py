"""OCPP 2.0.1: the messages the simulator sends, and its device model (the commands it answers
are in v201_commands.py)."""

from __future__ import annotations

import uuid
from typing import Any

from ocpp.v201 import call

from simulators.chargepoint import settings as keys
from simulators.chargepoint import v201_smart as smart
from simulators.chargepoint.client import VersionAdapter
from simulators.chargepoint.evse import Evse, Transaction
from simulators.chargepoint.v201_commands import Client201

STOP_TRIGGER = {
    "Local": "StopAuthorized",
    "EVDisconnected": "EVCommunicationLost",
    "Remote": "RemoteStop",
    "DeAuthorized": "Deauthorized",
    "ImmediateReset": "ResetCommand",
    "UnlockCommand": "UnlockCommand",
}
KNOWN_COMPONENTS = {c for c, _ in keys.VARIABLES} | {"SecurityCtrlr", "ClockCtrlr"}
COMPUTED = {("SecurityCtrlr", "Identity"), ("SecurityCtrlr", "SecurityProfile")}
COMPUTED |= {("ClockCtrlr", "DateTime")}
COMPUTED |= {("SmartChargingCtrlr", "Available"), ("SmartChargingCtrlr", "Enabled")}


def sampled(e: Evse, context: str, measurands: str) -> list[dict[str, Any]]:
    wanted = set(measurands.split(","))
    values: list[dict[str, Any]] = [
        {
            "value": round(e.meter_wh),
            "context": context,
            "measurand": "Energy.Active.Import.Register",
            "unit_of_measure": {"unit": "Wh"},
        }
    ]
    if "Power.Active.Import" in wanted:
        values.append(
            {
                "value": round(e.power_w),
                "context": context,
                "measurand": "Power.Active.Import",
                "unit_of_measure": {"unit": "W"},
            }
        )
    if "Current.Import" in wanted:
        for phase, amps in e.currents():
            values.append(
                {
                    "value": amps,
                    "context": context,
                    "measurand": "Current.Import",
                    "phase": phase,
                    "unit_of_measure": {"unit": "A"},
                }
            )
    if "SoC" in wanted and e.vehicle is not None:
        values.append(
            {
                "value": round(e.vehicle.soc * 100),
                "context": context,
                "measurand": "SoC",
                "unit_of_measure": {"unit": "Percent"},
            }
        )
    return values


class V201(VersionAdapter):
    subprotocol = "ocpp2.0.1"

    def client(self, ws: Any) -> Client201:
        return Client201(self.sim, ws)

    def boot(self, reason: str) -> Any:
        cfg = self.sim.config
        return call.BootNotification(
            charging_station={
                "model": cfg.model,
                "vendor_name": cfg.vendor,
                "serial_number": cfg.serial_number,
                "firmware_version": cfg.firmware_version,
            },
            reason=reason,
        )

    def heartbeat(self) -> Any:
        return call.Heartbeat()

    def station_status(self) -> list[Any]:
        return []  # 2.0.1 reports connectors only

    def status(self, e: Evse, status: str) -> list[Any]:
        requests = []
        for connector in range(1, e.connectors + 1):
            s = status
            if connector != e.connector and status == "Occupied":
                s = "Unavailable"  # one connector of an EVSE at a time
            requests.append(
                call.StatusNotification(
                    timestamp=self.now(), connector_status=s, evse_id=e.id, connector_id=connector
                )
            )
        return requests

    def authorize(self, id_token: str) -> Any:
        return call.Authorize(id_token={"id_token": id_token, "type": "ISO14443"})

    def auth_status(self, result: Any) -> str:
        return result.id_token_info["status"]

    def reset_reason(self, kind: str) -> str:
        return "ImmediateReset"

    # --- transaction messages (queued) ----------------------------------------------------

    def _event(
        self,
        e: Evse,
        tx: Transaction,
        event_type: str,
        trigger: str,
        context: str | None,
        *,
        id_token: str | None = None,
        stopped_reason: str | None = None,
        with_evse: bool = False,
        on_answer: Any = None,
    ) -> None:
        info: dict[str, Any] = {
            "transaction_id": tx.transaction_id,
            "charging_state": e.charging_state() if event_type != "Ended" else "EVConnected",
        }
        if event_type == "Ended" and e.vehicle is None:
            info["charging_state"] = "Idle"
        if stopped_reason is not None:
            info["stopped_reason"] = stopped_reason
        if tx.remote_start_id is not None and event_type == "Started":
            info["remote_start_id"] = tx.remote_start_id
        payload: dict[str, Any] = {
            "event_type": event_type,
            "timestamp": self.now(),
            "trigger_reason": trigger,
            "seq_no": tx.next_seq(),
            "transaction_info": info,
        }
        if context is not None:
            # Begin and End carry the register alone; samples what is configured.
            edge = context in ("Transaction.Begin", "Transaction.End")
            measurands = "" if edge else self.sim.settings["MeterValuesSampledData"]
            values = sampled(e, context, measurands)
            payload["meter_value"] = [{"timestamp": payload["timestamp"], "sampled_value": values}]
        if not self.sim.accepted:
            payload["offline"] = True
        if with_evse:
            payload["evse"] = {"id": e.id, "connector_id": e.connector}
        if id_token is not None:
            kind = "Central" if tx.remote_start_id is not None else "ISO14443"
            payload["id_token"] = {"id_token": id_token, "type": kind}
        self.sim.enqueue(
            "TransactionEvent",
            lambda: call.TransactionEvent(**payload),
            on_answer,
            transaction=tx.transaction_id,
        )

    def tx_started(self, e: Evse, tx: Transaction, trigger: str) -> None:
        tx.transaction_id = str(uuid.uuid4())

        def answered(result: Any) -> None:
            info = result.id_token_info
            self.sim.tx_verdict(e, tx, info["status"] if info else "Accepted")

        self._event(
            e,
            tx,
            "Started",
            trigger,
            "Transaction.Begin",
            id_token=tx.id_token,
            with_evse=True,
            on_answer=answered,
        )
        if e.vehicle is not None and e.vehicle.iso15118:
            self.sim.spawn(smart.ev_needs(self.sim, e))

    def report_external(self, amps: float | None, evse_id: int) -> None:
        self.sim.spawn(smart.external_limit(self.sim, amps, evse_id))

    def tx_meter(self, e: Evse, tx: Transaction) -> None:
        self._event(e, tx, "Updated", "MeterValuePeriodic", "Sample.Periodic")

    def tx_updated(self, e: Evse, tx: Transaction, trigger: str) -> None:
        self._event(e, tx, "Updated", trigger, None)

    def tx_ended(
        self, e: Evse, tx: Transaction, reason: str, id_token: str | None, trigger: str | None
    ) -> None:
        self._event(
            e,
            tx,
            "Ended",
            trigger or STOP_TRIGGER.get(reason, "AbnormalCondition"),
            "Transaction.End",
            id_token=id_token,
            stopped_reason=reason,
        )

    async def meter_now(self, e: Evse) -> None:
        self.sim.advance(e)
        value = {
            "timestamp": self.now(),
            "sampled_value": sampled(e, "Trigger", self.sim.settings["MeterValuesSampledData"]),
        }
        await self.sim.try_call(call.MeterValues(evse_id=e.id, meter_value=[value]))

    # --- the device model -----------------------------------------------------------------

    def variable(self, component: str, variable: str) -> tuple[str | None, str | None]:
        """(value, problem): problem is UnknownComponent or UnknownVariable."""
        if (component, variable) in COMPUTED:
            if variable == "Identity":
                return self.sim.id, None
            if component == "SmartChargingCtrlr":
                return str(self.sim.config.smart_charging).lower(), None
            if variable == "DateTime":
                return self.now(), None
            cfg = self.sim.config
            profile = "2" if cfg.url.startswith("wss://") else "1" if cfg.password else "0"
            return profile, None
        key = keys.VARIABLES.get((component, variable))
        if key is None:
            return None, "UnknownComponent" if component not in KNOWN_COMPONENTS else (
                "UnknownVariable"
            )
        return self.sim.settings[key], None

    def report_data(self) -> list[dict[str, Any]]:
        data = []
        for (component, variable), key in keys.VARIABLES.items():
            spec = keys.BY_NAME[key]
            data.append(
                {
                    "component": {"name": component},
                    "variable": {"name": variable},
                    "variable_attribute": [
                        {
                            "type": "Actual",
                            "value": self.sim.settings[key],
                            "mutability": "ReadOnly" if spec.readonly else "ReadWrite",
                        }
                    ],
                    "variable_characteristics": {
                        "data_type": {"int": "integer", "bool": "boolean"}.get(spec.kind, "string"),
                        "supports_monitoring": False,
                    },
                }
            )
        for component, variable in sorted(COMPUTED):
            value, _ = self.variable(component, variable)
            data.append(
                {
                    "component": {"name": component},
                    "variable": {"name": variable},
                    "variable_attribute": [
                        {"type": "Actual", "value": value, "mutability": "ReadOnly"}
                    ],
                }
            )
        return data
