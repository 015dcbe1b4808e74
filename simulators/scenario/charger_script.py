"""A charger's script on the timeline: faults and recoveries, network outages (its
transaction messages queue up and are replayed), reboots."""

from __future__ import annotations

from simulators.chargepoint import ChargePointSimulator, SimulatorError
from simulators.rest import RestError
from simulators.scenario.model import ChargerSpec, Step
from simulators.scenario.state import RunState


class ChargerScript(RunState):
    async def _charger(self, spec: ChargerSpec) -> None:
        cp = self.sims[spec.id]
        for step in spec.steps:
            await self._at(step)
            try:
                await self._charger_step(cp, step)
            except (SimulatorError, RestError, TimeoutError) as exc:
                text = str(exc) or type(exc).__name__
                self.line(spec.id, f"{step.do} failed: {text}")
                self.errors.append(f"{spec.id} {step.do}: {text}")

    async def _charger_step(self, cp: ChargePointSimulator, step: Step) -> None:
        a = step.args
        evse = int(a.get("evse", 1))
        if step.do == "wait":
            await self.clock.sleep(float(a.get("minutes", 0)) * 60)
        elif step.do == "fault":
            await cp.fault(evse, str(a.get("error_code", "GroundFailure")))
            if "minutes" in a:
                await self.clock.sleep(float(a["minutes"]) * 60)
                await cp.recover(evse)
        elif step.do == "recover":
            await cp.recover(evse)
        elif step.do == "disconnect":
            await cp.disconnect()
            queued = len(cp.queue)
            self.line(cp.id, f"network down ({queued} message(s) queued so far)")
            if "minutes" in a:
                await self.clock.sleep(float(a["minutes"]) * 60)
                await self._reconnect(cp)
        elif step.do == "reconnect":
            await self._reconnect(cp)
        elif step.do == "reboot":
            await cp.reboot("Hard")
            await cp.wait_booted(self.retry_for)

    async def _reconnect(self, cp: ChargePointSimulator) -> None:
        queued = len(cp.queue)
        await cp.reconnect(self.retry_for)
        self.line(cp.id, f"network back: replaying {queued} queued message(s)")
        await cp.wait_idle(self.retry_for)
