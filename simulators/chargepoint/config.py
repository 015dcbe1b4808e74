"""What a simulated charger is (its configuration) and what it reports (its events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulators.chargepoint.power import PowerCurve

VERSIONS = ("1.6", "2.0.1")


@dataclass
class ChargerConfig:
    id: str
    url: str  # the CSMS's OCPP endpoint without the charger id: ws://host:9000/ocpp
    ocpp: str = "1.6"
    evses: int = 1  # 1.6: connectors 1..n
    connectors_per_evse: int = 1  # 2.0.1 only
    curve: PowerCurve = field(default_factory=PowerCurve)
    password: str | None = None  # security profile 1 (HTTP Basic, user = charger id)
    ca_file: str | None = None  # wss:// trusted CA (security profile 2)
    vendor: str = "chargepark"
    model: str = "SIM-AC"
    serial_number: str | None = None
    firmware_version: str = "sim-1.0"
    meter_interval: int = 60  # simulated seconds between meter samples in a transaction
    heartbeat_interval: int | None = None  # None: the interval the CSMS gives at boot
    response_timeout: float = 30.0  # wall seconds to wait for the CSMS's answer
    reconnect_delay: float = 1.0  # wall seconds before a first retry; doubles up to 30
    reconnect_random: float = 1.0  # plus up to this many wall seconds, drawn per attempt
    boot_delay: float = 0.0  # simulated seconds a reboot takes

    def __post_init__(self) -> None:
        if self.ocpp not in VERSIONS:
            raise ValueError(f"ocpp must be one of {', '.join(VERSIONS)}")
        if not 1 <= self.evses <= 64:
            raise ValueError("evses (connectors) must be 1 to 64")
        if not 1 <= self.connectors_per_evse <= 8:
            raise ValueError("connectors per EVSE must be 1 to 8")
        if self.ocpp == "1.6" and self.connectors_per_evse != 1:
            raise ValueError("OCPP 1.6 has one connector per charging point")
        if self.meter_interval <= 0:
            raise ValueError("meter_interval must be positive")
        if not self.id or "/" in self.id:
            raise ValueError("charger id must be non-empty, without '/'")
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError("url must start with ws:// or wss://")
        if self.serial_number is None:
            self.serial_number = f"SN-{self.id}"


@dataclass(frozen=True)
class SimEvent:
    at: datetime  # simulated time
    charger_id: str
    kind: str
    text: str
    evse: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        where = f"{self.charger_id}/{self.evse}" if self.evse else self.charger_id
        return f"{self.at:%Y-%m-%d %H:%M:%S} {where:<14} {self.text}"
