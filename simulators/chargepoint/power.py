"""How much power flows into a car: the charger's limit, the car's limit, and the taper.

AC: flat at the lower of the two limits (11 kW by default) until the battery is full.
DC: the lower limit (50-150 kW) up to 80 % state of charge, then tapering linearly towards
5 % of it at 100 %, as lithium batteries are charged (constant current, then constant voltage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

TAPER_FROM_SOC = 0.8
TAPER_FLOOR = 0.05
# Energy is integrated in steps of at most this many simulated seconds (the power is held
# constant within a step), so the curve is followed closely at any clock speed.
STEP_SEC = 10.0


@dataclass(frozen=True)
class PowerCurve:
    max_kw: float = 11.0
    dc: bool = False

    @classmethod
    def ac(cls, kw: float = 11.0) -> PowerCurve:
        return cls(kw, dc=False)

    @classmethod
    def dc_fast(cls, kw: float = 150.0) -> PowerCurve:
        return cls(kw, dc=True)

    def power_kw(
        self, soc: float, car_max_kw: float | None = None, taper_from: float | None = None
    ) -> float:
        """The power at state of charge `soc` (0..1) for a car that takes at most
        `car_max_kw` and tapers above `taper_from` (DC: 0.8 unless the car says otherwise;
        AC: only a car that says so)."""
        if soc >= 1.0:
            return 0.0
        limit = self.max_kw if car_max_kw is None else min(self.max_kw, car_max_kw)
        knee = taper_from if taper_from is not None else (TAPER_FROM_SOC if self.dc else None)
        if knee is not None and soc > knee:
            share = (1.0 - soc) / (1.0 - knee)
            limit *= max(TAPER_FLOOR, share)
        return limit

    def describe(self) -> str:
        return f"{'DC' if self.dc else 'AC'} {self.max_kw:g} kW"


@dataclass
class Vehicle:
    """The car at the plug: its battery and what it wants."""

    battery_kwh: float = 60.0
    soc: float = 0.2
    max_kw: float | None = None  # what the car accepts; None: whatever the charger gives
    regnum: str | None = None
    want_kwh: float | None = None  # the car stops drawing once it has taken this much
    want_soc: float = 1.0
    max_amps: float | None = None  # AC: what its on-board charger takes, A per phase
    phases: int = 3  # AC: 1 (it loads the charger's first phase) or 3
    taper_from: float | None = None  # the SoC above which it draws less (None: AC flat, DC 0.8)
    # ISO 15118 (2.0.1): the car tells the charger its needs (NotifyEVChargingNeeds)
    iso15118: bool = False
    departure: datetime | None = None
    energy_amount_wh: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.soc <= 1 or not 0 < self.want_soc <= 1:
            raise ValueError("soc and want_soc are fractions of 1")
        if self.battery_kwh <= 0:
            raise ValueError("battery_kwh must be positive")
        if self.phases not in (1, 2, 3):
            raise ValueError("phases must be 1, 2 or 3")
        if self.max_amps is not None and self.max_amps <= 0:
            raise ValueError("max_amps must be positive")

    def curve_kw(self, curve: PowerCurve) -> float:
        return curve.power_kw(self.soc, self.max_kw, self.taper_from)


@dataclass(frozen=True)
class Draw:
    """What the car draws now: power, amps per phase, the phases it loads."""

    power_w: float
    amps: float
    phases: int
    suspended: bool = False  # the charger's limit is below its minimum: it pauses the car


def draw(
    curve: PowerCurve,
    car: Vehicle,
    limit_amps: float | None,
    *,
    voltage: float = 230.0,
    charger_phases: int = 3,
    limit_phases: int | None = None,
    min_amps: float = 6.0,
) -> Draw:
    """min(the car's own curve, the charger's limit in force). A limit below the charger's
    minimum current (6 A for AC) suspends charging, as IEC 61851 cannot signal less."""
    phases = min(charger_phases, car.phases, limit_phases or charger_phases)
    if curve.dc:
        phases = 3  # DC: the grid side is three-phase whatever the car
    own_w = car.curve_kw(curve) * 1000
    if not curve.dc:
        rating_amps = curve.max_kw * 1000 / (voltage * charger_phases)
        amps_cap = rating_amps if car.max_amps is None else min(rating_amps, car.max_amps)
        own_w = min(own_w, amps_cap * voltage * phases)
    if limit_amps is not None and limit_amps < min_amps:
        return Draw(0.0, 0.0, phases, suspended=True)
    power = own_w if limit_amps is None else min(own_w, limit_amps * voltage * phases)
    return Draw(power, power / (voltage * phases), phases)


def integrate(
    curve: PowerCurve,
    car: Vehicle,
    seconds: float,
    limit_wh: float | None,
    power_w: Callable[[], float] | None = None,
) -> tuple[float, float, float]:
    """Charge `car` for `seconds`; stop early after `limit_wh` (None: no limit) or when the car
    is satisfied. `power_w()` gives the power at the car's present SoC (default: the curve).
    Returns (Wh delivered, seconds used, power in W at the end)."""
    watts = power_w or (lambda: car.curve_kw(curve) * 1000)
    delivered = 0.0
    used = 0.0
    while used < seconds:
        if car.soc >= car.want_soc:
            break
        if limit_wh is not None and delivered >= limit_wh:
            break
        kw = watts() / 1000
        if kw <= 0:
            break
        step = min(STEP_SEC, seconds - used)
        wh = kw * 1000 * step / 3600
        room_soc = (car.want_soc - car.soc) * car.battery_kwh * 1000
        room = room_soc if limit_wh is None else min(room_soc, limit_wh - delivered)
        if wh >= room:
            step = step * room / wh if wh else 0.0
            wh = room
        delivered += wh
        used += step
        car.soc = min(1.0, car.soc + wh / (car.battery_kwh * 1000))
        if wh == room:
            break
    end_w = watts() if car.soc < car.want_soc else 0.0
    if limit_wh is not None and delivered >= limit_wh:
        end_w = 0.0
    return delivered, used, end_w


def seconds_to(curve: PowerCurve, car: Vehicle, wh: float, watts: float | None = None) -> float:
    """About how long `wh` more takes at the present power (a lower bound once it tapers)."""
    kw = car.curve_kw(curve) if watts is None else watts / 1000
    return float("inf") if kw <= 0 else wh / (kw * 1000) * 3600
