"""Tariff arithmetic, property-based: totals are the sum of the lines plus tax, rounding never
loses or invents a cent, caps and grace hold; and the seed's worked example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.money import round_minor
from billing.domain.pricing import (
    Line,
    LineKind,
    charging_amount,
    idle_minutes,
    parking_charge,
    tax_minor,
    totals,
)
from billing.domain.tariff import Tariff, in_force, standard_tariff
from billing.domain.visits import SessionFact, StayFact, StayKey, assemble, price_visit
from chargepark.errors import Invalid

T0 = datetime(2026, 11, 27, 10, tzinfo=UTC)

prices = st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False, allow_infinity=False)
kwhs = st.decimals(min_value=0, max_value=500, places=3, allow_nan=False, allow_infinity=False)
rates = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False)


@st.composite
def tariffs(draw) -> Tariff:
    cap = draw(st.one_of(st.none(), st.integers(0, 10_000)))
    return Tariff(
        id="T_X",
        version=1,
        name="",
        currency="EUR",
        energy_minor_per_kwh=draw(prices),
        session_fee_minor=draw(st.integers(0, 1000)),
        parking_minor_per_period=draw(st.integers(0, 1000)),
        parking_period_minutes=draw(st.integers(1, 240)),
        parking_grace_minutes=draw(st.integers(0, 120)),
        parking_daily_cap_minor=cap,
        idle_minor_per_minute=draw(st.integers(0, 100)),
        idle_after_minutes=draw(st.integers(0, 120)),
        tax_percent=draw(rates),
        valid_from=T0,
    )


@given(st.lists(st.integers(-(10**7), 10**7), max_size=20), rates)
def test_the_total_is_the_sum_of_the_lines_plus_the_tax(amounts, rate):
    lines = [Line(LineKind.ADJUSTMENT, "x", a) for a in amounts]
    t = totals(lines, rate)
    assert t.net_minor == sum(amounts)
    assert t.total_minor == t.net_minor + t.tax_minor
    exact = Decimal(t.net_minor) * rate / 100
    assert abs(Decimal(t.tax_minor) - exact) <= Decimal("0.5")  # one rounding, at most half a cent


@given(
    st.decimals(
        min_value=-(10**9), max_value=10**9, places=4, allow_nan=False, allow_infinity=False
    )
)
def test_rounding_is_half_away_from_zero_and_never_more_than_half_a_cent(value):
    rounded = round_minor(value)
    assert abs(Decimal(rounded) - value) <= Decimal("0.5")
    if abs(value - int(value)) == Decimal("0.5"):
        assert abs(rounded) == abs(int(value)) + 1


@given(tariffs(), kwhs)
def test_a_charging_line_is_the_energy_at_its_price_plus_the_fee_rounded_once(tariff, kwh):
    amount = charging_amount(tariff, kwh)
    exact = kwh * tariff.energy_minor_per_kwh + tariff.session_fee_minor
    assert abs(Decimal(amount) - exact) <= Decimal("0.5")
    assert amount >= tariff.session_fee_minor


@given(tariffs(), st.integers(0, 10 * 24 * 3600))
def test_parking_respects_the_grace_the_periods_and_the_daily_cap(tariff, seconds):
    charge = parking_charge(tariff, T0, T0 + timedelta(seconds=seconds))
    if seconds <= tariff.parking_grace_minutes * 60:
        assert charge.amount_minor == 0
        return
    period = tariff.parking_period_minutes * 60
    uncapped = 0
    days = -(-seconds // (24 * 3600))
    for day in range(days):
        window = min(24 * 3600, seconds - day * 24 * 3600)
        uncapped += -(-window // period) * tariff.parking_minor_per_period
    assert charge.amount_minor <= uncapped
    cap = tariff.parking_daily_cap_minor
    if cap is None:
        assert charge.amount_minor == uncapped
    else:
        assert charge.amount_minor <= cap * days
    # a longer stay never costs less
    longer = parking_charge(tariff, T0, T0 + timedelta(seconds=seconds + 60))
    assert longer.amount_minor >= charge.amount_minor


@given(tariffs(), st.integers(0, 48 * 3600))
def test_idle_starts_after_its_grace_and_counts_started_minutes(tariff, seconds):
    end = T0
    minutes = idle_minutes(tariff, end, end + timedelta(seconds=seconds))
    free = tariff.idle_after_minutes * 60
    assert minutes == (0 if seconds <= free else -(-(seconds - free) // 60))


def test_the_seed_example_14_3_kwh_31_minutes_in_a_2_hour_stay_under_t_std():
    t = standard_tariff()
    stay = StayFact(StayKey("A1", "AB123", T0), "P0", "1", "CP-1", 1, T0 + timedelta(hours=2))
    session = SessionFact(
        "S1",
        "CP-1",
        1,
        1,
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=36),
        Decimal("14.300"),
        14300,
        closed_seen=True,
    )
    [visit] = assemble([stay], [session]).values()
    lines, primary = price_visit(visit, lambda _id, _at: t)
    # 14.3 kWh x 39 = 557.7 -> 558, + 50 fee; 8 started quarters x 50; idle from 11:06 to 12:00
    assert [(line.kind, line.amount_minor) for line in lines] == [
        (LineKind.CHARGING, 608),
        (LineKind.PARKING, 400),
        (LineKind.IDLE, 270),
    ]
    sums = totals(lines, primary.tax_percent)
    assert (sums.net_minor, sums.tax_minor, sums.total_minor) == (1278, 256, 1534)


def test_a_long_stay_is_capped_per_24_hours_from_arrival():
    t = standard_tariff()
    charge = parking_charge(t, T0, T0 + timedelta(hours=49))
    assert (charge.amount_minor, charge.capped_days) == (2000 + 2000 + 200, 2)


def test_sub_cent_energy_prices_are_exact():
    t = standard_tariff()
    half = Tariff(**{**t.__dict__, "energy_minor_per_kwh": Decimal("38.5")})
    assert charging_amount(half, Decimal("1.000")) == 89  # 38.5 + 50 = 88.5 -> 89
    assert tax_minor(5, Decimal(10)) == 1  # 0.5 -> 1


def test_the_version_in_force_is_the_newest_valid_from_not_after_the_time():
    t = standard_tariff()
    v2 = Tariff(**{**t.__dict__, "version": 2, "valid_from": T0})
    assert in_force([t, v2], T0 - timedelta(seconds=1)).version == 1
    assert in_force([v2, t], T0).version == 2


@pytest.mark.parametrize(
    "change",
    [
        {"currency": "eur"},
        {"id": "t-1"},
        {"tax_percent": Decimal(101)},
        {"parking_period_minutes": 0},
        {"energy_minor_per_kwh": Decimal("0.0000001")},
        {"session_fee_minor": -1},
    ],
)
def test_a_tariff_out_of_range_is_invalid(change):
    with pytest.raises(Invalid):
        Tariff(**{**standard_tariff().__dict__, **change})
