"""What a simulated charger is (its configuration) and what it reports (its events)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from simulators.chargepoint.power import PowerCurve
from simulators.chargepoint.profiles import Limits

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
    # Smart charging (profiles.py): the supply, the charger's limits and how it behaves.
    voltage: float = 230.0  # phase-to-neutral: converts W limits to A per phase and back
    phases: int = 3
    min_amps: float = 6.0  # a limit below this suspends charging (IEC 61851's minimum)
    reaction_time: float = 1.0  # simulated seconds from a schedule change to the car obeying
    smart_charging: bool = True  # False: 1.6 NotSupported / NotImplemented, no SmartCharging
    reject_profiles: bool = False  # every SetChargingProfile answered Rejected
    ignore_limits: bool = False  # accepts profiles, the car draws regardless (alert tests)
    keep_profiles: bool = False  # profiles survive a reboot (real chargers differ)
    profile_limits: Limits = field(default_factory=Limits)
    external_limit_amps: float | None = None  # an outside limit reported once booted

    def __post_init__(self) -> None:
        self._check_basics()
        if self.phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")
        if not 100 <= self.voltage <= 1000:
            raise ValueError("voltage must be 100 to 1000 V")
        if self.reaction_time < 0 or self.min_amps < 0:
            raise ValueError("reaction_time and min_amps must not be negative")
        if self.external_limit_amps is not None and self.external_limit_amps < 0:
            raise ValueError("external_limit_amps must not be negative")
        if self.serial_number is None:
            self.serial_number = f"SN-{self.id}"

    def _check_basics(self) -> None:
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
