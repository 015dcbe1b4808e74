"""What an energy scenario reports about its lot's connection, computed from the power every
simulated car drew (the simulator knows it exactly), sampled on the simulated clock. Pure.

- peak site power against the limit; time over the limit (any phase above `limit_amps`), and
  the part of each excursion longer than the grace (the platform's plus the chargers'
  reaction time: a new car may draw until its limit arrives);
- energy delivered against the demand; cars that reached their target by departure, and how
  many would have with a static equal split of the connection (the usual unmanaged set-up:
  every bay capped at limit / bays), played offline from the same car list;
- Jain's fairness index over each car's delivered / needed: 1 when every car got the same
  share of its need, 1/n when one car got everything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from simulators.chargepoint.power import PowerCurve, Vehicle, draw


@dataclass(frozen=True)
class Sample:
    t: float  # simulated seconds into the timeline
    site_w: float
    phase_amps: tuple[float, float, float]
    cars_w: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CarOutcome:
    regnum: str
    needed_kwh: float
    delivered_kwh: float
    reached: bool


@dataclass(frozen=True)
class CarPlan:
    """A car as the offline estimate sees it."""

    regnum: str
    arrive: float
    depart: float
    battery_kwh: float
    soc: float
    target_soc: float
    phases: int = 3
    max_amps: float | None = None
    taper_from: float | None = None


def over_limit(samples: Sequence[Sample], limit_amps: float, grace: float) -> tuple[float, float]:
    """(seconds over the limit, seconds of excursions beyond `grace`): a sample stands for the
    time until the next one."""
    total = beyond = 0.0
    run = 0.0
    for a, b in pairwise(samples):
        dt = b.t - a.t
        if max(a.phase_amps) > limit_amps + 0.05:
            total += dt
            beyond += max(0.0, min(dt, run + dt - grace))
            run += dt
        else:
            run = 0.0
    return total, beyond


def jain(values: Sequence[float]) -> float:
    """Jain's index: (sum x)^2 / (n * sum x^2); 1.0 for no values or all zero."""
    squares = sum(x * x for x in values)
    if not values or squares == 0:
        return 1.0
    return sum(values) ** 2 / (len(values) * squares)


def equal_split(
    cars: Sequence[CarPlan],
    bays: int,
    limit_amps: float,
    curve: PowerCurve,
    *,
    voltage: float = 230.0,
    step: float = 60.0,
    min_amps: float = 6.0,
) -> int:
    """How many cars reach their target by departure when every bay is capped at
    limit_amps / bays, whoever is plugged in (first come, first served for the bays)."""
    share = limit_amps / max(bays, 1)
    occupied: list[tuple[CarPlan, Vehicle]] = []
    waiting = sorted(cars, key=lambda c: c.arrive)
    reached = 0
    end = max((c.depart for c in cars), default=0.0)
    t = 0.0
    while t <= end:
        for plan, car in [x for x in occupied if x[0].depart <= t]:
            reached += car.soc >= plan.target_soc - 0.005
            occupied.remove((plan, car))
        while waiting and waiting[0].arrive <= t:
            plan = waiting.pop(0)
            if len(occupied) < bays and plan.depart > t:
                car = Vehicle(
                    plan.battery_kwh,
                    plan.soc,
                    phases=plan.phases,
                    max_amps=plan.max_amps,
                    taper_from=plan.taper_from,
                    want_soc=plan.target_soc,
                )
                occupied.append((plan, car))
        for _plan, car in occupied:
            if car.soc < car.want_soc:
                d = draw(curve, car, share, voltage=voltage, min_amps=min_amps)
                gained = d.power_w * step / 3600 / (car.battery_kwh * 1000)
                car.soc = min(car.want_soc, car.soc + gained)
        t += step
    for plan, car in occupied:
        reached += car.soc >= plan.target_soc - 0.005
    return reached


@dataclass(frozen=True)
class EnergyReport:
    limit_w: float
    limit_amps: float
    peak_w: float
    peak_amps: float
    seconds_over: float
    seconds_beyond_grace: float
    grace: float
    demand_kwh: float
    delivered_kwh: float
    reached: int
    cars: int
    reached_equal_split: int
    fairness: float
    managed: bool | None

    def lines(self) -> list[str]:
        managed = {True: "managed", False: "unmanaged (no site set up)", None: ""}[self.managed]
        return [
            f"--- energy ({managed}) ---".replace(" ()", ""),
            f"site peak {self.peak_w / 1000:.1f} kW ({self.peak_amps:.1f} A on its busiest phase)"
            f" against a limit of {self.limit_w / 1000:.1f} kW ({self.limit_amps:g} A per phase)",
            f"over the limit {self.seconds_over:.0f} s in all, {self.seconds_beyond_grace:.0f} s "
            f"beyond the reaction time ({self.grace:g} s)",
            f"energy delivered {self.delivered_kwh:.1f} of {self.demand_kwh:.1f} kWh wanted "
            f"({_share(self.delivered_kwh, self.demand_kwh)})",
            f"cars at their target by departure: {self.reached} of {self.cars} "
            f"(static equal split: {self.reached_equal_split})",
            f"fairness (Jain, delivered / needed): {self.fairness:.3f}",
        ]


def _share(part: float, whole: float) -> str:
    return "100 %" if whole <= 0 else f"{part / whole:.0%}"


def report(
    samples: Sequence[Sample],
    outcomes: Sequence[CarOutcome],
    *,
    limit_amps: float,
    limit_w: float,
    grace: float,
    reached_equal_split: int,
    managed: bool | None,
) -> EnergyReport:
    over, beyond = over_limit(samples, limit_amps, grace)
    ratios = [min(1.0, o.delivered_kwh / o.needed_kwh) for o in outcomes if o.needed_kwh > 0]
    return EnergyReport(
        limit_w=limit_w,
        limit_amps=limit_amps,
        peak_w=max((s.site_w for s in samples), default=0.0),
        peak_amps=max((max(s.phase_amps) for s in samples), default=0.0),
        seconds_over=over,
        seconds_beyond_grace=beyond,
        grace=grace,
        demand_kwh=sum(o.needed_kwh for o in outcomes),
        delivered_kwh=sum(o.delivered_kwh for o in outcomes),
        reached=sum(o.reached for o in outcomes),
        cars=len(outcomes),
        reached_equal_split=reached_equal_split,
        fairness=jain(ratios),
        managed=managed,
    )
