"""ops.domain on synthetic streams: status intervals, occupancy over time, energy, firings.

Every computation sorts by event time itself, so the order facts arrive in cannot matter: the
property tests shuffle (and repeat where the store would dedupe) and expect the same answer.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargepark.errors import Invalid
from ops import domain
from ops.domain import (
    RuleData,
    RuleKind,
    RuleSpec,
    SessionTime,
    Span,
    StatusChange,
    Stay,
)
from tests.conftest import T0


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


def test_connector_intervals_start_from_the_state_before_the_period_and_merge_repeats():
    changes = [
        StatusChange(1, "Charging", at(30)),
        StatusChange(1, "Available", at(-10)),  # before the period: its starting state
        StatusChange(1, "SuspendedEV", at(40)),  # still a session: Charging
        StatusChange(1, "Faulted", at(50), "GroundFailure"),
        StatusChange(2, "Preparing", at(20)),
    ]
    found = domain.connector_intervals(changes, at(0), at(60))
    assert [(s.status, s.start, s.end) for s in found[1]] == [
        ("Available", at(0), at(30)),
        ("Charging", at(30), at(50)),
        ("Faulted", at(50), at(60)),
    ]
    assert found[1][-1].error_code == "GroundFailure"
    assert [(s.status, s.start) for s in found[2]] == [("Unknown", at(0)), ("Occupied", at(20))]


def test_charger_time_counts_a_whole_charger_outage_against_every_evse():
    changes = [
        StatusChange(1, "Available", at(0)),
        StatusChange(2, "Charging", at(0)),
        StatusChange(0, "Available", at(0)),
        StatusChange(0, "Unavailable", at(30)),
        StatusChange(0, "Available", at(45)),
    ]
    time = domain.charger_time(domain.connector_intervals(changes, at(0), at(60)))
    assert time.seconds["Unavailable"] == 2 * 15 * 60  # two EVSEs, 15 min
    assert time.seconds["Available"] == 45 * 60 and time.seconds["Charging"] == 45 * 60
    assert time.availability_percent == 75.0 and time.uptime_percent == 100.0


def test_availability_is_unknown_without_any_status():
    time = domain.charger_time({1: domain.connector_intervals([], at(0), at(1)).get(1, [])})
    assert time.availability_percent is None


def test_occupancy_buckets_weigh_time_and_keep_the_peak():
    stays = [
        Stay(at(-30), at(15)),  # parked before the period
        Stay(at(10), at(20)),
        Stay(at(40), None),
    ]
    buckets = domain.occupancy_buckets(stays, at(0), at(60), 30 * 60)
    assert [round(b["mean_occupied"], 3) for b in buckets] == [
        round((15 + 10) / 30, 3),
        round(20 / 30, 3),
    ]
    assert [b["peak_occupied"] for b in buckets] == [2, 1]


def test_energy_counts_register_rises_and_survives_a_meter_reset():
    readings = [(at(0), 1000), (at(10), 1500), (at(20), 200), (at(30), 700), (at(-5), 900)]
    # 900 -> 1000 happened by the period's start; 1500 -> 200 is a reset, not a delivery
    assert domain.energy_delivered_wh(readings, at(0)) == 500 + 500


def test_a_span_fires_only_when_longer_than_the_window():
    window = timedelta(minutes=10)
    spans = [
        Span("a", at(0), at(10)),  # exactly the window: not longer
        Span("b", at(0), at(11)),
        Span("c", at(5), None),
        Span("d", at(55), None),  # not yet
    ]
    fired = domain.firings(spans, window, at(60))
    assert [(f.subject, f.fired_at, f.cleared_at) for f in fired] == [
        ("b", at(10), at(11)),
        ("c", at(15), None),
    ]


def test_rule_definitions_are_checked():
    with pytest.raises(Invalid):
        RuleSpec.of({"kind": "occupancy_high", "window_sec": 60})
    with pytest.raises(Invalid):
        RuleSpec.of({"kind": "invoice_unpaid", "window_sec": 60, "charger_id": "CP-1"})
    with pytest.raises(Invalid):
        RuleSpec.of({"kind": "nope", "window_sec": 60})
    spec = RuleSpec.of({"kind": "occupancy_high", "window_sec": 60, "threshold_percent": 90})
    assert spec.name == "occupancy_high" and spec.severity == "warning"


def test_idle_bay_spans_hold_while_a_vehicle_waits_without_a_session():
    stays = [Stay(at(0), at(60), charger_id="CP-1", connector_id=1)]
    sessions = [SessionTime("CP-1", 1, at(5), at(30)), SessionTime("CP-1", 2, at(0), None)]
    spans = domain.idle_bay_spans(stays, sessions)
    assert [(s.start, s.end) for s in spans] == [(at(0), at(5)), (at(30), at(60))]


def test_occupancy_rule_needs_the_capacity():
    spec = RuleSpec(RuleKind.OCCUPANCY_HIGH, 600, threshold_percent=50)
    data = RuleData(stays_by_lot={"A": [Stay(at(0), None), Stay(at(1), None)]})
    assert domain.evaluate(spec, data, at(60)) == []
    data.capacity_by_lot = {"A": 3}
    [fired] = domain.evaluate(spec, data, at(60))
    assert (fired.subject, fired.since, fired.fired_at) == ("A", at(1), at(11))


# --- properties -----------------------------------------------------------------------------

STATUSES = ["Available", "Charging", "Faulted", "Unavailable", "Offline", "Preparing"]
changes_st = st.lists(
    st.builds(
        StatusChange,
        evse_id=st.integers(0, 2),
        status=st.sampled_from(STATUSES),
        at=st.integers(-30, 120).map(lambda m: at(m)),
    ),
    max_size=25,
    unique_by=lambda c: (c.evse_id, c.at),  # one status per EVSE and instant
)
stays_st = st.lists(
    st.tuples(st.integers(-60, 100), st.one_of(st.none(), st.integers(1, 90))).map(
        lambda t: Stay(at(t[0]), None if t[1] is None else at(t[0] + t[1]))
    ),
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(changes=changes_st, seed=st.randoms(use_true_random=False))
def test_status_figures_do_not_depend_on_arrival_order(changes, seed):
    shuffled = list(changes)
    seed.shuffle(shuffled)
    first = domain.charger_time(domain.connector_intervals(changes, at(0), at(90)))
    second = domain.charger_time(domain.connector_intervals(shuffled, at(0), at(90)))
    assert first == second
    total = sum(first.seconds.values())
    evses = len({c.evse_id for c in changes if c.evse_id != 0}) or (1 if changes else 0)
    assert total == pytest.approx(evses * 90 * 60)
    assert domain.status_spans({"X": changes}, "Faulted") == domain.status_spans(
        {"X": shuffled}, "Faulted"
    )


@settings(max_examples=60, deadline=None)
@given(stays=stays_st, seed=st.randoms(use_true_random=False))
def test_occupancy_does_not_depend_on_arrival_order_and_matches_a_direct_count(stays, seed):
    shuffled = list(stays)
    seed.shuffle(shuffled)
    buckets = domain.occupancy_buckets(stays, at(0), at(60), 600)
    assert buckets == domain.occupancy_buckets(shuffled, at(0), at(60), 600)
    for b in buckets:
        # the peak is the most vehicles present at any instant of the bucket
        instants = [b["from"]] + [
            t for s in stays for t in (s.arrived_at, s.left_at) if t and b["from"] < t < b["to"]
        ]
        most = max(
            sum(s.arrived_at <= t and (s.left_at is None or s.left_at > t) for s in stays)
            for t in instants
        )
        assert b["peak_occupied"] == most
        assert 0 <= b["mean_occupied"] <= most + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    readings=st.lists(
        st.tuples(st.integers(-10, 60), st.integers(0, 5000)), max_size=15, unique_by=lambda r: r[0]
    ),
    seed=st.randoms(use_true_random=False),
)
def test_energy_does_not_depend_on_arrival_order(readings, seed):
    timed = [(at(m), wh) for m, wh in readings]
    shuffled = list(timed)
    seed.shuffle(shuffled)
    assert domain.energy_delivered_wh(timed, at(0)) == domain.energy_delivered_wh(shuffled, at(0))
