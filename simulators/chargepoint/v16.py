"""OCPP 1.6J: the messages the simulator sends (the commands it answers are in
v16_commands.py)."""

from __future__ import annotations

from typing import Any

from ocpp.v16 import call

from simulators.chargepoint.client import VersionAdapter
from simulators.chargepoint.evse import Evse, Transaction
from simulators.chargepoint.v16_commands import Client16


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
    if "Current.Import" in wanted:
        for phase, amps in e.currents():
            values.append(
                {
                    "value": f"{amps:g}",
                    "context": context,
                    "measurand": "Current.Import",
                    "phase": phase,
                    "unit": "A",
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

    def report_external(self, amps: float | None, evse_id: int) -> None:
        return None  # 1.6 has no message for a limit from elsewhere: it only applies it

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
