"""The simulated charger's profile store and composite schedule (OCPP 1.6 and 2.0.1
semantics), and the car drawing within the limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulators.chargepoint.power import PowerCurve, Vehicle, draw
from simulators.chargepoint.profile_wire import parse16, parse201
from simulators.chargepoint.profiles import (
    STATION_MAX,
    TX,
    TX_DEFAULT,
    Electrical,
    Limit,
    Limits,
    Period,
    Profile,
    ProfileStore,
)

T0 = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


def prof(pid: int, purpose: str, level: int, *periods: tuple[int, float], **kw: object) -> Profile:
    values: dict[str, object] = {
        "id": pid,
        "stack_level": level,
        "purpose": purpose,
        "kind": "Absolute",
        "unit": "A",
        "periods": tuple(Period(s, v) for s, v in periods),
        "start_schedule": T0,
    }
    values.update(kw)
    return Profile(**values)  # type: ignore[arg-type]


def test_stack_levels_purposes_and_the_station_maximum() -> None:
    store = ProfileStore()
    assert store.install(prof(1, TX_DEFAULT, 0, (0, 32.0))) is None
    assert store.install(prof(2, TX_DEFAULT, 1, (0, 20.0), (3600, 10.0))) is None
    assert store.limit_at(1, T0 + timedelta(minutes=5)) == Limit(20.0)  # higher level wins
    assert store.limit_at(1, T0 + timedelta(hours=2)) == Limit(10.0)
    assert store.install(prof(3, TX, 0, (0, 25.0), evse=1, kind="Relative")) is None
    tx_start = T0 + timedelta(minutes=1)
    # a TxProfile overrides the default even at a lower stack level (only with a transaction)
    assert store.limit_at(1, T0 + timedelta(hours=2), tx_start) == Limit(25.0)
    assert store.limit_at(1, T0 + timedelta(hours=2)) == Limit(10.0)
    assert store.install(prof(4, STATION_MAX, 0, (0, 16.0))) is None
    assert store.limit_at(1, T0 + timedelta(hours=2), tx_start) == Limit(16.0)  # the minimum
    store.external[0] = Limit(8.0)
    assert store.limit_at(1, T0, tx_start) == Limit(8.0)
    # the TxProfile goes with its transaction
    assert [p.id for p in store.transaction_ended(1)] == [3]
    assert store.limit_at(2, T0 + timedelta(minutes=5)) == Limit(8.0)


def test_replacing_by_id_and_by_purpose_level_and_evse_and_clearing() -> None:
    store = ProfileStore()
    store.install(prof(1, TX_DEFAULT, 1, (0, 32.0)))
    store.install(prof(1, TX_DEFAULT, 2, (0, 20.0)))  # same id: replaced
    assert list(store.profiles) == [1] and store.profiles[1].stack_level == 2
    store.install(prof(7, TX_DEFAULT, 2, (0, 10.0)))  # same purpose, level, EVSE: replaced
    assert list(store.profiles) == [7]
    store.install(prof(8, TX_DEFAULT, 2, (0, 12.0), evse=1))  # another EVSE: kept apart
    store.install(prof(9, STATION_MAX, 0, (0, 40.0)))
    assert [p.id for p in store.select(purpose=TX_DEFAULT)] == [7, 8]
    assert [p.id for p in store.clear(evse=1)] == [8]
    assert [p.id for p in store.clear(purpose=STATION_MAX, stack_level=0)] == [9]
    assert store.clear(profile_id=123) == []


def test_the_chargers_limits_reject_a_profile() -> None:
    store = ProfileStore(Limits(max_stack_level=3, units=("A",), max_periods=2, max_profiles=2))
    assert "stack level" in (store.install(prof(1, TX_DEFAULT, 4, (0, 1.0))) or "")
    assert "rate unit" in (store.install(prof(1, TX_DEFAULT, 0, (0, 1.0), unit="W")) or "")
    too_many = prof(1, TX_DEFAULT, 0, (0, 1.0), (60, 2.0), (120, 3.0))
    assert "periods" in (store.install(too_many) or "")
    assert store.install(prof(1, TX_DEFAULT, 0, (0, 1.0))) is None
    assert store.install(prof(2, TX_DEFAULT, 1, (0, 1.0))) is None
    assert "profiles installed" in (store.install(prof(3, TX_DEFAULT, 2, (0, 1.0))) or "")
    assert store.install(prof(2, TX_DEFAULT, 3, (0, 1.0))) is None  # a replacement fits
    assert "EVSE 0" in (store.install(prof(4, STATION_MAX, 0, (0, 1.0), evse=1)) or "")
    assert "start at 0" in (store.install(prof(5, TX_DEFAULT, 0, (60, 1.0))) or "")


def test_recurring_relative_validity_and_duration() -> None:
    store = ProfileStore()
    night = prof(
        1, TX_DEFAULT, 0, (0, 10.0), (4 * 3600, 32.0),
        kind="Recurring", recurrency="Daily", start_schedule=T0 - timedelta(days=3),
    )  # fmt: skip
    store.install(night)
    assert store.limit_at(1, T0 + timedelta(hours=1)) == Limit(10.0)
    assert store.limit_at(1, T0 + timedelta(hours=5)) == Limit(32.0)
    assert store.limit_at(1, T0 + timedelta(days=1, hours=1)) == Limit(10.0)
    weekly = prof(
        2, TX_DEFAULT, 1, (0, 6.0), kind="Recurring", recurrency="Weekly", duration=3600,
        start_schedule=T0 - timedelta(weeks=2),
    )  # fmt: skip
    store.install(weekly)
    assert store.limit_at(1, T0 + timedelta(minutes=30)) == Limit(6.0)
    assert store.limit_at(1, T0 + timedelta(hours=2)) == Limit(10.0)  # past its duration
    assert store.limit_at(1, T0 + timedelta(days=1, minutes=5)) == Limit(10.0)
    relative = prof(3, TX, 0, (0, 16.0), (600, 8.0), kind="Relative", evse=1, start_schedule=None)
    store.install(relative)
    start = T0 + timedelta(hours=9)
    assert store.limit_at(1, start + timedelta(minutes=5), start) == Limit(16.0)
    assert store.limit_at(1, start + timedelta(minutes=11), start) == Limit(8.0)
    bounded = prof(4, STATION_MAX, 0, (0, 5.0), valid_from=T0, valid_to=T0 + timedelta(hours=1))
    store.install(bounded)
    assert store.limit_at(2, T0 + timedelta(minutes=1)) == Limit(5.0)
    assert store.limit_at(2, T0 + timedelta(hours=2)) == Limit(10.0)


def test_composite_schedule_and_unit_conversion() -> None:
    store = ProfileStore(electrical=Electrical(230, 3))
    store.install(prof(1, STATION_MAX, 0, (0, 22080.0), (1800, 6900.0), unit="W"))
    store.install(prof(2, TX_DEFAULT, 0, (0, 16.0), (3600, 32.0)))
    periods = store.composite(1, T0, 7200, "A", default=Limit(32.0))
    assert periods == [Period(0, 16.0), Period(1800, 10.0)]
    watts = store.composite(1, T0, 7200, "W")
    assert watts == [Period(0, 11040.0), Period(1800, 6900.0)]
    one_phase = Profile(
        id=3, stack_level=1, purpose=STATION_MAX, kind="Absolute", unit="W",
        periods=(Period(0, 3220.0, phases=1),), start_schedule=T0,
    )  # fmt: skip
    store.install(one_phase)
    assert store.limit_at(1, T0) == Limit(14.0, phases=1)
    nothing = ProfileStore().composite(1, T0, 600, "A", default=Limit(32.0))
    assert nothing == [Period(0, 32.0)]


def test_wire_profiles_of_both_versions() -> None:
    p16 = parse16(
        1,
        {
            "charging_profile_id": 5,
            "stack_level": 2,
            "charging_profile_purpose": "ChargePointMaxProfile",
            "charging_profile_kind": "Recurring",
            "recurrency_kind": "Daily",
            "charging_schedule": {
                "charging_rate_unit": "W",
                "start_schedule": "2026-12-07T18:00:00Z",
                "charging_schedule_period": [
                    {"start_period": 0, "limit": 11000, "number_phases": 3}
                ],
            },
        },
    )
    assert (p16.purpose, p16.unit, p16.start_schedule, p16.periods) == (
        STATION_MAX, "W", T0, (Period(0, 11000.0, 3),),
    )  # fmt: skip
    p201 = parse201(
        1,
        {
            "id": 9,
            "stack_level": 0,
            "charging_profile_purpose": "TxProfile",
            "charging_profile_kind": "Relative",
            "transaction_id": "abc",
            "charging_schedule": [
                {"id": 1, "charging_rate_unit": "A",
                 "charging_schedule_period": [{"start_period": 0, "limit": 10}]}
            ],
        },
    )  # fmt: skip
    assert (p201.id, p201.purpose, p201.transaction_id, p201.evse) == (9, TX, "abc", 1)


def test_the_car_draws_the_lower_of_its_curve_and_the_limit() -> None:
    bay = PowerCurve.ac(22.08)  # 32 A, three phases, 230 V
    car = Vehicle(battery_kwh=60, soc=0.3)
    assert draw(bay, car, None).power_w == pytest.approx(22080)
    limited = draw(bay, car, 16.0)
    assert (limited.power_w, limited.amps, limited.suspended) == (pytest.approx(11040), 16.0, False)
    assert draw(bay, car, 5.9).suspended and draw(bay, car, 5.9).power_w == 0
    single = Vehicle(phases=1, max_amps=32)
    d = draw(bay, single, 20.0)
    assert (d.phases, d.power_w) == (1, pytest.approx(4600))
    small = Vehicle(max_amps=16)
    assert draw(bay, small, None).power_w == pytest.approx(11040)
    tapering = Vehicle(soc=0.95, taper_from=0.9)
    assert draw(bay, tapering, None).power_w == pytest.approx(22080 * 0.5)
    assert draw(bay, Vehicle(), 10.0, limit_phases=1).phases == 1
