"""The energy an EVSE delivers: its meter brought up to the simulated now along the car's
power curve, the periodic meter samples of a transaction, and how long a charge may take."""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import timedelta

from simulators.chargepoint.evse import Evse, Transaction
from simulators.chargepoint.power import integrate, seconds_to
from simulators.chargepoint.station import Station


class Metering(Station):
    def advance(self, e: Evse) -> None:
        """Bring the EVSE's meter up to the simulated now."""
        now = self.clock.now()
        last = e.last_advance or now
        e.last_advance = now
        seconds = (now - last).total_seconds()
        if not e.flowing or seconds <= 0:
            e.power_w = (
                e.curve.power_kw(e.vehicle.soc, e.vehicle.max_kw) * 1000
                if (e.flowing and e.vehicle)
                else 0.0
            )
            return
        car = e.vehicle
        assert car is not None
        limit = None if e.target_wh is None else max(0.0, e.target_wh - e.meter_wh)
        wh, _, power = integrate(e.curve, car, seconds, limit)
        e.meter_wh += wh
        e.power_w = power
        reached = e.target_wh is not None and e.meter_wh >= e.target_wh - 1e-6
        if reached:
            e.meter_wh = float(e.target_wh)  # type: ignore[arg-type]
        if reached or car.soc >= car.want_soc:
            e.car_satisfied = True
            e.power_w = 0.0
            tx = e.tx
            if tx is not None:
                kwh = (e.meter_wh - tx.meter_start_wh) / 1000
                self.emit(
                    "car_satisfied",
                    f"car stops drawing: {kwh:.3f} kWh, SoC {car.soc:.0%}",
                    e.id,
                    kwh=round(kwh, 3),
                )
                self.protocol.tx_updated(e, tx, "ChargingStateChanged")
            self.changed(e)

    async def _charge_loop(self, e: Evse, tx: Transaction) -> None:
        interval = self.meter_interval
        next_sample = tx.started_at + timedelta(seconds=interval)
        while e.tx is tx:
            wake = next_sample
            if e.flowing and e.vehicle is not None:
                car = e.vehicle
                need = (car.want_soc - car.soc) * car.battery_kwh * 1000
                if e.target_wh is not None:
                    need = min(need, e.target_wh - e.meter_wh)
                eta = seconds_to(e.curve, car, max(need, 0.0))
                if math.isfinite(eta):  # infinite: no power now (a full car), nothing to wait for
                    done_at = self.clock.now() + timedelta(seconds=max(eta, 1.0))
                    wake = min(wake, done_at)
            e.changed.clear()
            delay = self.clock.real_seconds_until(wake)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(e.changed.wait(), delay)
            if e.tx is not tx:
                return
            self.advance(e)
            if self.clock.now() >= next_sample:
                self.protocol.tx_meter(e, tx)
                self.emit(
                    "meter",
                    f"meter {e.meter_wh / 1000:.3f} kWh, {e.power_w / 1000:.1f} kW",
                    e.id,
                    meter_wh=round(e.meter_wh),
                    power_w=round(e.power_w),
                )
                interval = self.meter_interval
                next_sample += timedelta(seconds=interval)
                if next_sample < self.clock.now():
                    next_sample = self.clock.now() + timedelta(seconds=interval)

    @property
    def meter_interval(self) -> int:
        return max(1, self.setting_int("MeterValueSampleInterval", self.config.meter_interval))

    def _charge_timeout(self, e: Evse) -> float:
        car = e.vehicle
        assert car is not None
        need = (car.want_soc - car.soc) * car.battery_kwh * 1000
        if e.target_wh is not None:
            need = min(need, e.target_wh - e.meter_wh)
        eta = seconds_to(e.curve, car, max(need, 0.0))
        sim = (eta * 25 if math.isfinite(eta) else 0.0) + 3600  # the taper, and slack
        return self.clock.real(sim) + 30
