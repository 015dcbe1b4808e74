"""Play a scenario against a running platform: chargers over OCPP, cars over parking's REST API.

Set-up (before the timeline's zero): register the chargers (csms), create the lot with an EV
bay per charger EVSE (parking), a customer per named car with its vehicle and RFID card
(accounts); start the simulated chargers and wait for their boot. Then every car's and
charger's script runs at once, each step not before its `at`. At the end: the sessions (csms)
and the invoices (billing) of the run, read back over REST.

Time: the simulated clock starts in the past, early enough that the whole timeline fits before
the wall clock's now, and catches up with it (see simulators/clock.py). Every timestamp the
platform gets (OCPP messages, park and leave `ts`) is simulated time, so invoices price the
simulated durations.
"""

from __future__ import annotations

import asyncio
import contextlib

from simulators.scenario.car_script import CHARGING_STEPS, CarScript
from simulators.scenario.charger_script import ChargerScript
from simulators.scenario.energy_monitor import EnergyMonitor
from simulators.scenario.plot import plot
from simulators.scenario.results import Results
from simulators.scenario.setup import Setup
from simulators.scenario.state import SHOWN, CarState
from simulators.scenario.summary import Summary

__all__ = ["CHARGING_STEPS", "SHOWN", "CarState", "ScenarioRunner"]


class ScenarioRunner(Setup, CarScript, ChargerScript, Results):
    """The phases of a run: setup.py, car_script.py and charger_script.py (the timeline),
    results.py (what the platform made of it); state.py what they share."""

    async def run(self) -> Summary:
        try:
            await self.setup()
            self.t0 = self.clock.now()
            start = f"{self.t0:%Y-%m-%d %H:%M}"
            self.out(f"--- timeline (simulated, x{self.speed:g}; starts {start} UTC) ---")
            monitor = None
            if self.scenario.energy is not None:
                monitor = EnergyMonitor(self)
                monitor.start()
            scripts = [self._car(c) for c in self.cars.values()]
            scripts += [self._charger(spec) for spec in self.scenario.chargers if spec.steps]
            results = await asyncio.gather(*scripts, return_exceptions=True)
            for r in results:
                if isinstance(r, BaseException):
                    self.errors.append(f"{type(r).__name__}: {r}")
                    self.out(f"error: {type(r).__name__}: {r}")
            ended = self.clock.now()
            if monitor is not None:
                await monitor.stop()
                self._energy(monitor)
            # Messages queued through an outage go out once each charger is back.
            with contextlib.suppress(TimeoutError):
                await asyncio.gather(*(cp.wait_idle(self.retry_for) for cp in self.sims.values()))
            return await self.summary(ended)
        finally:
            await asyncio.gather(*(cp.stop() for cp in self.sims.values()))

    def _energy(self, monitor: EnergyMonitor) -> None:
        energy = self.scenario.energy
        assert energy is not None
        self.energy_report = found = monitor.report()
        for line in found.lines():
            self.out(line)
        if self.plot:
            how = plot(self.plot, monitor.samples, energy.limit_w, self.scenario.name)
            self.out(f"plot: {self.plot} ({how})")
