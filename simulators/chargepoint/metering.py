"""The energy an EVSE delivers: its meter brought up to the simulated now along the car's
power curve, the periodic meter samples of a transaction, and how long a charge may take."""

from __future__ import annotations

import asyncio
import contextlib
import math
from datetime import datetime, timedelta

from simulators.chargepoint.evse import Evse, Transaction
from simulators.chargepoint.power import Draw, Vehicle, draw, integrate, seconds_to
from simulators.chargepoint.station import Station


class Metering(Station):
    def _draw(self, e: Evse, at: datetime) -> Draw:
        car = e.vehicle
        assert car is not None
        lim = self.limit_for(e, at)
        cfg = self.config
        return draw(
            e.curve,
            car,
            None if lim is None else lim.amps,
            voltage=cfg.voltage,
            charger_phases=cfg.phases,
            limit_phases=None if lim is None else lim.phases,
            min_amps=cfg.min_amps,
        )

    def advance(self, e: Evse) -> None:
        """Bring the EVSE's meter up to the simulated now, segment by segment between the
        instants at which the limit the car obeys changes."""
        now = self.clock.now()
        last = e.last_advance or now
        e.last_advance = now
        if not e.flowing:
            e.power_w, e.amps = 0.0, 0.0
            self._set_limited(e, False)
            return
        car = e.vehicle
        assert car is not None
        t = last
        while t < now and not self._satisfied(e):
            nxt = self.next_limit_change(e, t)
            end = now if nxt is None or nxt <= t else min(now, nxt)
            target = None if e.target_wh is None else max(0.0, e.target_wh - e.meter_wh)
            wh, _, _ = integrate(
                e.curve,
                car,
                (end - t).total_seconds(),
                target,
                lambda at=t: self._draw(e, at).power_w,  # type: ignore[misc]  # bound per segment
            )
            e.meter_wh += wh
            t = end
        if e.hold_until is not None and now >= e.hold_until:
            e.held, e.hold_until = None, None
        d = self._draw(e, now)
        e.power_w, e.amps, e.phases_used = d.power_w, d.amps, d.phases
        self._set_limited(e, d.suspended)
        if self._satisfied(e):
            self._car_done(e, car)

    def _satisfied(self, e: Evse) -> bool:
        car = e.vehicle
        reached = e.target_wh is not None and e.meter_wh >= e.target_wh - 1e-6
        return reached or (car is not None and car.soc >= car.want_soc)

    def _set_limited(self, e: Evse, limited: bool) -> None:
        if e.limited == limited:
            return
        e.limited = limited
        if e.tx is not None:
            word = "suspended: limit below the minimum" if limited else "resumed: limit allows"
            self.emit("limited", f"charging {word}", e.id, limited=limited)
            self.protocol.tx_updated(e, e.tx, "ChargingStateChanged")
        self.changed(e)

    def _car_done(self, e: Evse, car: Vehicle) -> None:
        if e.target_wh is not None and e.meter_wh >= e.target_wh - 1e-6:
            e.meter_wh = float(e.target_wh)
        e.car_satisfied = True
        e.power_w, e.amps = 0.0, 0.0
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
                eta = seconds_to(e.curve, car, max(need, 0.0), e.power_w or None)
                if math.isfinite(eta):  # infinite: no power now (a full car), nothing to wait for
                    done_at = self.clock.now() + timedelta(seconds=max(eta, 1.0))
                    wake = min(wake, done_at)
                change = self.next_limit_change(e, self.clock.now())
                if change is not None:
                    wake = min(wake, change)
            e.changed.clear()
            delay = self.clock.real_seconds_until(wake)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(e.changed.wait(), delay)
            if e.tx is not tx:
                return
            self.advance(e)
            now = self.clock.now()
            lim = self.limit_for(e, now) if e.flowing else e.sampled_limit
            due = now >= next_sample
            if due or lim != e.sampled_limit:
                # a limit that changed is reported at once, not at the next interval
                e.sampled_limit = lim
                self.protocol.tx_meter(e, tx)
                self.emit(
                    "meter",
                    f"meter {e.meter_wh / 1000:.3f} kWh, {e.power_w / 1000:.1f} kW",
                    e.id,
                    meter_wh=round(e.meter_wh),
                    power_w=round(e.power_w),
                )
            if due:
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
        eta = seconds_to(e.curve, car, max(need, 0.0), e.power_w or None)
        sim = (eta * 25 if math.isfinite(eta) else 0.0) + 3600  # the taper, and slack
        return self.clock.real(sim) + 30
