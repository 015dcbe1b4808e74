"""One EVSE (a 1.6 connector): what is plugged in, its transaction, its meter, its status.

The status is derived from the state, never set: after each change the simulator compares it
with the last one reported and sends a StatusNotification when it differs.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from simulators.chargepoint.power import PowerCurve, Vehicle
from simulators.chargepoint.profiles import Limit, Profile


@dataclass
class Transaction:
    local_id: int
    id_token: str | None
    meter_start_wh: int
    started_at: datetime
    remote_start_id: int | None = None
    transaction_id: str | None = None  # 1.6: the CSMS's integer (as text) once answered
    seq_no: int = 0  # 2.0.1: the next TransactionEvent's seqNo
    ended_at: datetime | None = None
    stop_reason: str | None = None
    answered: asyncio.Future[str] | None = None  # the CSMS's verdict on the id token

    def next_seq(self) -> int:
        seq = self.seq_no
        self.seq_no += 1
        return seq


@dataclass
class Reservation:
    reservation_id: int
    id_token: str
    expires_at: datetime


@dataclass
class PendingAuth:
    id_token: str
    remote_start_id: int | None
    expires_at: datetime
    trigger: str  # why the transaction will start: Authorized or RemoteStart


@dataclass
class Evse:
    id: int
    connectors: int
    curve: PowerCurve
    meter_wh: float = 0.0
    vehicle: Vehicle | None = None
    connector: int = 1  # the connector the car is plugged into
    tx: Transaction | None = None
    target_wh: float | None = None  # the register value at which the car stops drawing
    operative: bool = True
    inoperative_scheduled: bool = False
    fault: str | None = None  # an error code while faulted
    reservation: Reservation | None = None
    pending: PendingAuth | None = None
    finished: bool = False  # the transaction ended with the car still plugged in
    car_satisfied: bool = False
    power_w: float = 0.0
    amps: float = 0.0  # per phase the car loads
    phases_used: int = 3
    limited: bool = False  # the limit in force is below the minimum: suspended by the EVSE
    held: Limit | None = None  # the limit the car obeys until `hold_until` (its reaction)
    hold_until: datetime | None = None
    sampled_limit: Limit | None = None  # the limit in force at the last meter sample
    start_profile: Profile | None = None  # a TxProfile that came with a remote start
    last_advance: datetime | None = None
    sent: str | None = None  # the status the CSMS was last told (None: not on this connection)
    shown: str | None = None  # the status last reported as an event
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def flowing(self) -> bool:
        """Energy flows: a transaction, a car that wants more, nothing stopping it."""
        return (
            self.tx is not None
            and self.vehicle is not None
            and self.fault is None
            and self.operative
            and not self.car_satisfied
        )

    def status16(self) -> str:
        """The status in 1.6 terms (ChargePointStatus); 2.0.1 maps it to its connector
        status."""
        if self.fault is not None:
            return "Faulted"
        if self.tx is not None:
            if self.flowing:
                return "SuspendedEVSE" if self.limited else "Charging"
            return "SuspendedEVSE" if not self.operative else "SuspendedEV"
        if not self.operative:
            return "Unavailable"
        if self.vehicle is not None:
            return "Finishing" if self.finished else "Preparing"
        if self.pending is not None:
            return "Preparing"
        if self.reservation is not None:
            return "Reserved"
        return "Available"

    def status201(self) -> str:
        s = self.status16()
        if s in ("Preparing", "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing"):
            return "Available" if self.vehicle is None else "Occupied"
        return s

    def charging_state(self) -> str:
        """2.0.1 ChargingStateEnumType."""
        if self.tx is None or self.vehicle is None:
            return "Idle"
        if self.flowing:
            return "SuspendedEVSE" if self.limited else "Charging"
        if self.fault is not None or not self.operative:
            return "SuspendedEVSE"
        return "SuspendedEV"

    def currents(self) -> list[tuple[str, float]]:
        """Current.Import per phase the car loads (a single-phase car: L1 only)."""
        return [(f"L{n}", round(self.amps, 1)) for n in range(1, self.phases_used + 1)]

    def poke(self) -> None:
        self.changed.set()
