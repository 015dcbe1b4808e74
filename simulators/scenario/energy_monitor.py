"""During an energy scenario: every `sample_sec` simulated seconds, the power each car draws
(brought up to the simulated now), summed per phase for the site; at the end, each car's
outcome and the report (energy_report.py), and the plot."""

from __future__ import annotations

import asyncio
import contextlib

from simulators.chargepoint import ChargePointSimulator, PowerCurve, Vehicle
from simulators.scenario.energy_report import (
    CarOutcome,
    CarPlan,
    EnergyReport,
    Sample,
    equal_split,
    report,
)
from simulators.scenario.specs import CarSpec, Scenario
from simulators.scenario.state import RunState


class EnergyMonitor:
    def __init__(self, run: RunState) -> None:
        self.run = run
        self.samples: list[Sample] = []
        self.seen: dict[str, Vehicle] = {}  # regnum -> the car as it is at its charger
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sample()

    async def _loop(self) -> None:
        spec = self.run.scenario.energy
        assert spec is not None
        while True:
            self.sample()
            await self.run.clock.sleep(spec.sample_sec)

    def sample(self) -> None:
        run = self.run
        assert run.t0 is not None
        t = (run.clock.now() - run.t0).total_seconds()
        phases = [0.0, 0.0, 0.0]
        cars: dict[str, float] = {}
        for cp in run.sims.values():
            for e in cp.evses.values():
                car = e.vehicle
                if car is None or e.tx is None:
                    continue
                cp.advance(e)
                key = car.regnum or f"{cp.id}/{e.id}"
                self.seen[key] = car
                cars[key] = e.power_w
                for n in range(e.phases_used):
                    phases[n] += e.amps
        site = sum(cars.values())
        self.samples.append(Sample(t, site, (phases[0], phases[1], phases[2]), cars))

    def outcomes(self) -> list[CarOutcome]:
        found = []
        for spec in self.run.scenario.cars:
            if spec.fuel == "ICE":
                continue
            target = spec.target_soc()
            needed = max(0.0, target - spec.soc) * spec.battery_kwh
            car = self.seen.get(spec.regnum)
            soc = spec.soc if car is None else car.soc
            delivered = max(0.0, soc - spec.soc) * spec.battery_kwh
            found.append(CarOutcome(spec.regnum, needed, delivered, soc >= target - 0.005))
        return found

    def report(self) -> EnergyReport:
        s = self.run.scenario
        e = s.energy
        assert e is not None
        bays = sum(c.evses for c in s.chargers if c.bay)
        curve = PowerCurve.ac(max((c.kw for c in s.chargers), default=22.0))
        return report(
            self.samples,
            self.outcomes(),
            limit_amps=e.limit_amps,
            limit_w=e.limit_w,
            grace=e.grace_sec,
            reached_equal_split=equal_split(plans(s), bays, e.limit_amps, curve, voltage=e.voltage),
            managed=self.run.site_managed,
        )


def plans(s: Scenario) -> list[CarPlan]:
    return [p for p in (plan_of(c) for c in s.cars if c.fuel != "ICE") if p is not None]


def plan_of(c: CarSpec) -> CarPlan | None:
    """When the car plugs in (its arrival plus the waits before `plug`) and leaves."""
    depart = c.departure()
    t = 0.0
    for step in c.steps:
        if step.at is not None:
            t = max(t, step.at)
        if step.do == "wait":
            t += float(step.args.get("minutes", 0)) * 60
        if step.do == "plug":
            break
    if depart is None:
        return None
    return CarPlan(
        c.regnum, t, depart, c.battery_kwh, c.soc, c.target_soc(), c.phases, c.max_amps,
        c.taper_from,
    )  # fmt: skip


__all__ = ["ChargePointSimulator", "EnergyMonitor", "plans"]
