"""How much power flows into a car: the charger's limit, the car's limit, and the taper.

AC: flat at the lower of the two limits (11 kW by default) until the battery is full.
DC: the lower limit (50-150 kW) up to 80 % state of charge, then tapering linearly towards
5 % of it at 100 %, as lithium batteries are charged (constant current, then constant voltage).
"""

from __future__ import annotations

from dataclasses import dataclass

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

    def power_kw(self, soc: float, car_max_kw: float | None = None) -> float:
        """The power at state of charge `soc` (0..1) for a car that takes at most
        `car_max_kw`."""
        if soc >= 1.0:
            return 0.0
        limit = self.max_kw if car_max_kw is None else min(self.max_kw, car_max_kw)
        if self.dc and soc > TAPER_FROM_SOC:
            share = (1.0 - soc) / (1.0 - TAPER_FROM_SOC)
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

    def __post_init__(self) -> None:
        if not 0 <= self.soc <= 1 or not 0 < self.want_soc <= 1:
            raise ValueError("soc and want_soc are fractions of 1")
        if self.battery_kwh <= 0:
            raise ValueError("battery_kwh must be positive")


def integrate(
    curve: PowerCurve,
    car: Vehicle,
    seconds: float,
    limit_wh: float | None,
) -> tuple[float, float, float]:
    """Charge `car` for `seconds`; stop early after `limit_wh` (None: no limit) or when the car
    is satisfied. Returns (Wh delivered, seconds used, power in W at the end)."""
    delivered = 0.0
    used = 0.0
    while used < seconds:
        if car.soc >= car.want_soc:
            break
        if limit_wh is not None and delivered >= limit_wh:
            break
        kw = curve.power_kw(car.soc, car.max_kw)
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
    power_w = curve.power_kw(car.soc, car.max_kw) * 1000 if car.soc < car.want_soc else 0.0
    if limit_wh is not None and delivered >= limit_wh:
        power_w = 0.0
    return delivered, used, power_w


def seconds_to(curve: PowerCurve, car: Vehicle, wh: float) -> float:
    """About how long `wh` more takes at the present power (a lower bound once it tapers)."""
    kw = curve.power_kw(car.soc, car.max_kw)
    return float("inf") if kw <= 0 else wh / (kw * 1000) * 3600
