"""The lot-energy scenario's parts that need no platform: its file and short form, the
report's figures (time over the limit and beyond the reaction time, fairness, the static
equal split estimate) and the plain PNG writer."""

from __future__ import annotations

import struct
import zlib

import pytest

from simulators.chargepoint import PowerCurve
from simulators.scenario.energy_monitor import plans
from simulators.scenario.energy_report import (
    CarOutcome,
    CarPlan,
    Sample,
    equal_split,
    jain,
    over_limit,
    report,
)
from simulators.scenario.model import ScenarioError, builtin, load, parse
from simulators.scenario.plot import png


def test_the_scenario_file_and_its_short_form() -> None:
    s = load(builtin("lot-energy"))
    assert s.energy is not None and s.energy.limit_w == pytest.approx(145 * 230 * 3)
    assert len(s.chargers) == 20 and {c.ocpp for c in s.chargers} == {"1.6", "2.0.1"}
    assert len(s.cars) == 40 and {c.phases for c in s.cars} == {1, 3}
    assert any(c.iso15118 for c in s.cars) and not all(c.iso15118 for c in s.cars)
    assert all(c.departure() is not None and c.target_soc() < 1.0 for c in s.cars)
    short = s.shortened()
    assert (len(short.chargers), len(short.cars), short.speed) == (6, 8, 120)
    assert short.energy is not None and short.energy.limit_amps == 50
    first, cut = s.cars[0], short.cars[0]
    assert cut.departure() == pytest.approx(first.departure() * 0.25)  # type: ignore[operator]
    assert len(plans(s)) == 40
    with pytest.raises(ScenarioError):
        load(builtin("single-visit")).shortened()


def test_energy_fields_are_checked() -> None:
    base = {"chargers": [{"id": "C1"}], "cars": [{"regnum": "A1", "steps": []}]}
    with pytest.raises(ScenarioError, match="limit_amps"):
        parse({**base, "energy": {"limit_amps": -1}})
    with pytest.raises(ScenarioError, match="phases"):
        parse({**base, "cars": [{"regnum": "A1", "phases": 2}]})
    with pytest.raises(ScenarioError, match="until"):
        parse({**base, "cars": [{"regnum": "A1", "steps": [{"do": "charge", "until": "x"}]}]})
    with pytest.raises(ScenarioError, match="unknown field"):
        parse({**base, "energy": {"limit": 3}})


def test_time_over_the_limit_and_beyond_the_reaction_time() -> None:
    amps = [100, 150, 150, 150, 150, 100, 150, 100]  # 4 samples over, then 1 over
    samples = [Sample(t * 2.0, a * 690.0, (a, a, a)) for t, a in enumerate(amps)]
    assert over_limit(samples, 145, grace=6) == (10.0, 2.0)
    assert over_limit(samples, 145, grace=0) == (10.0, 10.0)
    outcomes = [CarOutcome("A", 10, 10, True), CarOutcome("B", 10, 5, False)]
    found = report(samples, outcomes, limit_amps=145, limit_w=100_050, grace=6,
                   reached_equal_split=0, managed=True)  # fmt: skip
    assert (found.peak_amps, found.reached, found.delivered_kwh) == (150, 1, 15)
    assert found.fairness == pytest.approx(jain([1.0, 0.5]))
    assert "2 s beyond the reaction time" in "\n".join(found.lines())


def test_jain_and_the_equal_split_estimate() -> None:
    assert jain([1, 1, 1]) == 1 and jain([1, 0, 0, 0]) == 0.25 and jain([]) == 1
    cars = [CarPlan(f"C{n}", 0, 3600, 60, 0.5, 0.6) for n in range(4)]  # 6 kWh each in 1 h
    bay = PowerCurve.ac(22.08)
    assert equal_split(cars, 4, 200, bay) == 4  # 50 A each: enough
    assert equal_split(cars, 4, 30, bay) == 0  # 7.5 A each: 5.2 kW, short of 6 kWh
    assert equal_split(cars, 2, 200, bay) == 2  # two find no bay


def test_the_plain_png() -> None:
    samples = [Sample(t, 1000.0 * t, (t, t, t), {"A": 500.0 * t}) for t in range(10)]
    data = png(samples, 5000.0)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    idat = data.index(b"IDAT")
    size = struct.unpack(">I", data[idat - 4 : idat])[0]
    raw = zlib.decompress(data[idat + 4 : idat + 4 + size])
    assert len(raw) == height * (1 + 3 * width)
    assert b"\xdc\x1e\x1e" in raw  # the limit's red
