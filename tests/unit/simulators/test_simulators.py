"""The simulators' pure parts: the simulated clock, the power curve, scenario files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulators.chargepoint.power import PowerCurve, Vehicle, integrate
from simulators.clock import SimClock
from simulators.scenario.model import ScenarioError, builtin, load, parse, shipped

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class Time:
    def __init__(self) -> None:
        self.real = 0.0

    def wall(self) -> datetime:
        return NOW + timedelta(seconds=self.real)

    def mono(self) -> float:
        return self.real


def test_a_clock_started_now_runs_ahead_at_its_speed():
    t = Time()
    clock = SimClock(60, wall=t.wall, monotonic=t.mono)
    t.real = 2
    assert clock.now() == NOW + timedelta(minutes=2)
    assert clock.real_seconds_until(NOW + timedelta(minutes=3)) == pytest.approx(1)


def test_a_clock_started_in_the_past_catches_up_and_never_passes_the_wall_clock():
    t = Time()
    clock = SimClock(61, start=NOW - timedelta(minutes=60), wall=t.wall, monotonic=t.mono)
    t.real = 30
    assert clock.now() == NOW - timedelta(minutes=30) + timedelta(seconds=30)
    assert clock.real_seconds_until(NOW) == pytest.approx(3600 / 61 - 30)  # still ahead of it
    t.real = 90
    assert clock.now() == NOW + timedelta(seconds=90)  # the wall clock's pace from then on
    assert clock.real_seconds_until(NOW + timedelta(seconds=100)) == pytest.approx(10)


def test_ac_is_flat_and_dc_tapers_above_80_percent():
    ac, dc = PowerCurve.ac(11), PowerCurve.dc_fast(150)
    assert ac.power_kw(0.1) == ac.power_kw(0.95) == 11
    assert dc.power_kw(0.5) == 150 and dc.power_kw(0.9) == pytest.approx(75)
    assert dc.power_kw(0.5, car_max_kw=50) == 50
    assert dc.power_kw(1.0) == 0


def test_energy_stops_exactly_at_the_limit():
    car = Vehicle(60, 0.2)
    wh, used, power = integrate(PowerCurve.ac(11), car, 3 * 3600, 14_300)
    assert wh == pytest.approx(14_300) and used == pytest.approx(14.3 / 11 * 3600)
    assert power == 0


def test_the_shipped_scenarios_are_valid():
    assert shipped() == ["busy-evening", "faults-and-recovery", "lot-energy", "single-visit"]
    busy = load(builtin("busy-evening"))
    assert (len(busy.chargers), len(busy.cars)) == (50, 200)
    assert {c.ocpp for c in busy.chargers} == {"1.6", "2.0.1"}
    arrivals = [c.steps[0].at for c in busy.cars]
    assert min(arrivals) >= 0 and max(arrivals) <= 3 * 3600 and len(set(arrivals)) > 100
    single = load(builtin("single-visit")).with_tag("X1")
    assert single.cars[0].regnum == "SIM001X1" and single.chargers[0].id == "SIM-CP-1-X1"
    assert [s.do for s in single.cars[0].steps] == [
        "arrive",
        "plug",
        "authorize",
        "charge",
        "stop",
        "unplug",
        "leave",
    ]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"cars": [{"regnum": "A1", "steps": [{"do": "plug", "at": "1:75"}]}]}, "time offset"),
        ({"cars": [{"regnum": "A1", "steps": [{"do": "authorize"}]}]}, "needs an id_token"),
        ({"cars": [{"regnum": "A{n}", "count": 2}, {"regnum": "A1"}]}, "two with the car"),
        ({"chargers": [{"id": "C", "ocpp": "2.1"}]}, "one of 1.6, 2.0.1"),
        ({"chargers": [{"id": "C", "count": 3}]}, "needs {n}"),
        ({"chargers": [{"id": "C", "colour": "red"}]}, "unknown field"),
        ({"cars": [{"regnum": "A1", "steps": [{"do": "plug", "charger": "Z"}]}]}, "unknown"),
        ({}, "needs chargers or cars"),
    ],
)
def test_a_bad_scenario_says_where(raw, problem):
    with pytest.raises(ScenarioError, match=problem.replace("{", r"\{").replace("}", r"\}")):
        parse(raw)


class Visits:
    """Answers GET /billing/visits/{id} from a table, counting the reads."""

    def __init__(self, visits: dict[str, dict]) -> None:
        self.visits, self.reads = visits, 0

    async def get(self, path: str, **_query: object) -> dict:
        self.reads += 1
        return self.visits[path.rsplit("/", 1)[1]]


async def test_a_run_counts_as_its_own_only_the_anonymous_invoices_of_its_cars_and_chargers():
    from simulators.scenario.runner import ScenarioRunner

    scenario = load(builtin("single-visit"))
    car, charger = scenario.cars[0], scenario.chargers[0]
    stay = {"lot_id": scenario.lot.id, "regnum": car.regnum.replace(" ", "").upper()}
    visits = Visits(
        {
            "ours": {"stay": stay, "sessions": []},
            "other-car": {"stay": {**stay, "regnum": "ZZ999"}, "sessions": []},
            "other-lot": {"stay": {**stay, "lot_id": "ELSEWHERE"}, "sessions": []},
            "our-charger": {"stay": None, "sessions": [{"charger_id": charger.id}]},
            "public": {"stay": None, "sessions": [{"charger_id": "SOMEONE-ELSES"}]},
        }
    )
    runner = ScenarioRunner(scenario, visits, "ws://127.0.0.1:9/ocpp")  # type: ignore[arg-type]
    verdicts = {
        visit_id: await runner._ours({"id": f"inv-{visit_id}", "visit_id": visit_id})
        for visit_id in visits.visits
    }
    assert verdicts == {
        "ours": True,
        "other-car": False,
        "other-lot": False,
        "our-charger": True,
        "public": False,
    }
    assert await runner._ours({"id": "inv-late", "visit_id": None}) is False
    assert await runner._ours({"id": "inv-ours", "visit_id": "ours"}) is True
    assert visits.reads == 5  # each invoice's visit read once
