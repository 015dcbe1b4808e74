"""Session rules: opening, events, closing, energy and seqNo holes."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from csms.domain.sessions import (
    SEQ_NOS_LISTED,
    Reading,
    Session,
    measure_energy,
)
from tests.conftest import T0


def a_session(**overrides) -> Session:
    values = {
        "id": "s-1",
        "charger_id": "CP-1",
        "transaction_id": "1",
        "evse_id": 1,
        "connector_id": 1,
        "started_at": T0,
        "meter_start_wh": 1000,
    }
    return Session(**(values | overrides))


def test_a_session_closes_once_with_the_energy_between_the_registers():
    session = a_session()
    closed = session.close(15_300, T0 + timedelta(minutes=31), "EVDisconnected")
    assert closed is not None
    assert (closed.energy_wh, closed.kwh, closed.duration_sec) == (14_300, Decimal("14.300"), 1860)
    assert session.close(20_000, T0 + timedelta(hours=1), "Local") is None
    assert session.meter_stop_wh == 15_300


def test_a_register_that_went_backwards_counts_no_energy():
    session = a_session(meter_start_wh=5000)
    closed = session.close(4000, T0, None)
    assert closed is not None and closed.energy_wh == 0
    assert session.meter_anomalies == 1


def readings(*whs: int) -> list[Reading]:
    return [Reading(T0 + timedelta(minutes=i), wh) for i, wh in enumerate(whs)]


def test_registers_win_over_samples_even_past_a_misread_sample():
    energy = measure_energy(1000, 5000, readings(2000, 100, 4000))
    assert (energy.wh, energy.source, energy.anomalies) == (4000, "registers", 1)


def test_a_meter_reset_counts_the_rises_before_and_after_it():
    energy = measure_energy(50_000, 2_000, readings(53_000, 500))
    assert (energy.wh, energy.source, energy.anomalies) == (4_500, "samples", 1)


def test_without_registers_the_samples_then_the_intervals_then_nothing():
    assert measure_energy(None, None, readings(7, 9, 20)).wh == 13
    assert measure_energy(None, 50, readings(10)).wh == 40
    # samples arrive in any order; time orders them
    shuffled = [Reading(T0 + timedelta(minutes=2), 30), Reading(T0, 10)]
    assert measure_energy(None, None, shuffled).wh == 20
    assert measure_energy(None, None, readings(10), interval_wh=700).source == "intervals"
    assert (measure_energy(None, None).wh, measure_energy(None, None).source) == (0, "none")


@given(
    start=st.one_of(st.none(), st.integers(0, 10**9)),
    stop=st.one_of(st.none(), st.integers(0, 10**9)),
    samples=st.lists(st.integers(0, 10**9), max_size=12),
    interval=st.one_of(st.none(), st.integers(0, 10**7)),
)
def test_measured_energy_is_never_negative_and_never_more_than_the_rises(
    start, stop, samples, interval
):
    energy = measure_energy(start, stop, readings(*samples), interval)
    series = [v for v in (start, *samples, stop) if v is not None]
    rises = sum(max(0, b - a) for a, b in itertools.pairwise(series))
    assert energy.wh >= 0
    assert energy.anomalies == sum(1 for a, b in itertools.pairwise(series) if b < a)
    if energy.source != "intervals":
        assert energy.wh <= rises
    if start is not None and stop is not None and stop >= start:
        assert (energy.wh, energy.source) == (stop - start, "registers")


def test_seq_no_holes_open_on_a_jump_and_close_when_the_late_event_comes():
    session = a_session()
    for seq in (0, 1, 4, 7):
        session.accept_seq_no(seq)
    assert session.missing_seq_nos == [2, 3, 5, 6]
    session.accept_seq_no(3)
    session.accept_seq_no(3)  # a duplicate changes nothing
    assert (session.missing_seq_nos, session.last_seq_no) == ([2, 5, 6], 7)


def test_a_huge_seq_no_jump_keeps_the_oldest_holes_within_the_column():
    session = a_session()
    session.accept_seq_no(0)
    session.accept_seq_no(10_000)
    assert session.seq_missing == "1-9999"
    assert session.missing_seq_nos[:3] == [1, 2, 3]
    assert len(session.missing_seq_nos) == SEQ_NOS_LISTED  # the ranges say the rest


def test_a_jump_to_the_largest_seq_no_costs_one_range_not_one_entry_per_number():
    session = a_session()
    started = time.perf_counter()
    session.accept_seq_no(0)
    session.accept_seq_no(2**31 - 1)
    session.accept_seq_no(1_000_000_000)  # a late event splits the hole
    session.accept_seq_no(1)  # and one at its edge shrinks it
    assert time.perf_counter() - started < 0.01
    assert session.seq_missing == "2-999999999,1000000001-2147483646"
    assert session.missing_seq_ranges == [(2, 999_999_999), (1_000_000_001, 2**31 - 2)]
    assert session.last_seq_no == 2**31 - 1


def test_holes_beyond_the_column_keep_the_oldest_and_count_the_newer():
    session = a_session()
    for seq in range(0, 2000, 2):  # a hole between each two
        session.accept_seq_no(seq * 1000)
    assert session.seq_missing is not None and len(session.seq_missing) <= 200
    ranges = session.missing_seq_ranges
    assert ranges[0] == (1, 1999)  # the oldest
    kept, dropped = len(ranges), int(session.seq_missing.rsplit("+", 1)[1])
    assert kept + dropped == 999
    session.accept_seq_no(500)  # filling a kept hole still works
    assert session.missing_seq_ranges[:2] == [(1, 499), (501, 1999)]


def test_a_seq_missing_text_of_single_numbers_reads_as_before():
    session = a_session(last_seq_no=7, seq_missing="2,3,5,6")
    assert session.missing_seq_nos == [2, 3, 5, 6]
    session.accept_seq_no(5)
    assert session.seq_missing == "2-3,6"


@given(st.lists(st.integers(0, 60), max_size=40))
def test_seq_no_holes_are_exactly_the_numbers_below_the_highest_never_seen(seqs):
    """The ranges equal the naive set of missing numbers."""
    session = a_session()
    for seq in seqs:
        session.accept_seq_no(seq)
    if not seqs:
        assert session.missing_seq_nos == []
        return
    first = seqs[0]
    expected = [n for n in range(first, max(seqs)) if n not in set(seqs)]
    assert session.missing_seq_nos == expected


@given(st.lists(st.integers(0, 2**31 - 1), max_size=8), st.lists(st.integers(0, 300), max_size=30))
def test_seq_no_ranges_are_sorted_disjoint_and_equal_the_naive_set(jumps, seqs):
    session = a_session()
    for seq in [*jumps, *seqs]:
        session.accept_seq_no(seq)
    ranges = session.missing_seq_ranges
    assert all(a <= b < c for (a, b), (c, _) in itertools.pairwise(ranges))
    if not (jumps or seqs) or "+" in (session.seq_missing or ""):
        return  # nothing sent, or holes beyond the column (the test above)
    seen = set(jumps) | set(seqs)
    first = [*jumps, *seqs][0]
    small = [n for n in range(first, min(max(seen), first + 400)) if n not in seen]
    in_ranges = [n for a, b in ranges for n in range(a, min(b, first + 399) + 1)]
    assert in_ranges == small


def test_a_stop_stamped_before_the_start_ends_at_the_start():
    closed = a_session().close(2000, T0 - timedelta(seconds=5), None)
    assert closed is not None and closed.duration_sec == 0


@given(start=st.integers(0, 10**9), delta=st.integers(-(10**6), 10**9))
def test_energy_is_never_negative_and_kwh_is_exact(start, delta):
    closed = a_session(meter_start_wh=start).close(start + delta, T0, None)
    assert closed is not None
    assert closed.energy_wh == max(0, delta)
    assert closed.kwh * 1000 == closed.energy_wh


def test_a_session_opens_active_or_as_a_requested_remote_start():
    requested = Session.open(
        charger_id="CP-1", evse_id=0, connector_id=0, at=T0, id_token="RFID-1", remote_start_id=5
    )
    assert (requested.status, requested.requested_at, requested.transaction_id) == (
        "pending",
        T0,
        None,
    )
    later = T0 + timedelta(seconds=30)
    session = Session.open(
        charger_id="CP-1",
        transaction_id="7",
        evse_id=2,
        connector_id=1,
        at=later,
        id_token="RFID-1",
        meter_start_wh=100,
        answering=requested,
    )
    assert session is requested
    assert (session.status, session.transaction_id, session.evse_id, session.started_at) == (
        "active",
        "7",
        2,
        later,
    )
    assert (session.remote_start_id, session.requested_at, session.meter_start_wh) == (5, T0, 100)
    fresh = Session.open(charger_id="CP-1", transaction_id="8", evse_id=1, connector_id=1, at=T0)
    assert fresh.id != session.id and fresh.status == "active"


def test_an_event_counts_offline_tracks_seq_nos_and_gives_a_missing_start_register():
    session = a_session(meter_start_wh=None)
    session.record_event(seq_no=0, offline=False, meter_wh=None)
    session.record_event(seq_no=3, offline=True, meter_wh=1200)
    session.record_event(seq_no=4, offline=True, meter_wh=1500)
    assert (session.meter_start_wh, session.offline_events, session.missing_seq_nos) == (
        1200,
        2,
        [1, 2],
    )
