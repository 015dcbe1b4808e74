"""The simulated car obeys its charger's limits, offline (no socket): the reaction time, the
charger's maximum shared by its EVSEs, suspension below the minimum, the energy integrated
along the limits, and a charger that ignores them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from simulators.chargepoint import ChargePointSimulator, ChargerConfig, PowerCurve, Vehicle
from simulators.chargepoint.profiles import STATION_MAX, TX, Period, Profile
from simulators.clock import SimClock

T0 = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


class Hands:
    """A clock whose hands the test moves (simulated seconds)."""

    def __init__(self) -> None:
        self.t = 0.0
        self.clock = SimClock(1.0, start=T0, wall=lambda: T0, monotonic=lambda: self.t)

    def move(self, seconds: float) -> None:
        self.t += seconds


def profile(pid: int, purpose: str, amps: float, evse: int = 0) -> Profile:
    return Profile(
        id=pid,
        stack_level=0,
        purpose=purpose,
        kind="Relative" if purpose == TX else "Absolute",
        unit="A",
        periods=(Period(0, amps),),
        evse=evse,
        start_schedule=None if purpose == TX else T0,
    )


async def charger(hands: Hands, **kw: object) -> ChargePointSimulator:
    config = ChargerConfig("U-1", "ws://unused", evses=2, curve=PowerCurve.ac(22.08), **kw)  # type: ignore[arg-type]
    cp = ChargePointSimulator(config, clock=hands.clock)
    cp.local_list["TAG"] = "Accepted"
    return cp


async def start(cp: ChargePointSimulator, evse: int, car: Vehicle) -> None:
    await cp.plug(evse, car)
    assert await cp.authorize(evse, "TAG") == "Accepted"
    assert cp.evses[evse].tx is not None


async def test_reaction_time_sharing_and_suspension() -> None:
    hands = Hands()
    cp = await charger(hands)
    try:
        await start(cp, 1, Vehicle(battery_kwh=100, soc=0.1))
        e1, e2 = cp.evses[1], cp.evses[2]
        cp.advance(e1)
        assert e1.power_w == pytest.approx(22080)
        assert cp.set_profile(profile(1, STATION_MAX, 20)) == ("Accepted", None)
        hands.move(0.5)
        cp.advance(e1)
        assert e1.power_w == pytest.approx(22080)  # within its reaction time
        hands.move(0.5)
        cp.advance(e1)
        assert e1.power_w == pytest.approx(20 * 690) and e1.amps == pytest.approx(20)
        hands.move(3600)
        before = e1.meter_wh
        cp.advance(e1)
        assert e1.meter_wh - before == pytest.approx(20 * 690, rel=0.01)  # an hour at 20 A
        await start(cp, 2, Vehicle(battery_kwh=100, soc=0.1, phases=1))
        hands.move(10)
        cp.advance(e1), cp.advance(e2)
        assert e1.amps == pytest.approx(10) and e2.amps == pytest.approx(10)
        assert e2.phases_used == 1 and e2.currents() == [("L1", 10.0)]
        cp.set_profile(profile(2, TX, 4, evse=1))
        hands.move(2)
        cp.advance(e1)
        assert e1.limited and e1.power_w == 0 and cp.status_of(e1) == "SuspendedEVSE"
        assert cp.evses[1].charging_state() == "SuspendedEVSE"
        cp.clear_profiles(profile_id=2)
        hands.move(2)
        cp.advance(e1)
        assert not e1.limited and cp.status_of(e1) == "Charging"
        assert [x.kind for x in cp.events].count("limited") == 2
    finally:
        await cp.stop()


async def test_a_charger_that_ignores_its_limits() -> None:
    hands = Hands()
    cp = await charger(hands, ignore_limits=True)
    try:
        await start(cp, 1, Vehicle(battery_kwh=100, soc=0.1, max_amps=16))
        cp.set_profile(profile(1, STATION_MAX, 6))
        hands.move(5)
        cp.advance(cp.evses[1])
        assert cp.evses[1].power_w == pytest.approx(16 * 690)
        assert cp.schedule_limit(cp.evses[1], hands.clock.now()) is not None
        await asyncio.sleep(0)
    finally:
        await cp.stop()
