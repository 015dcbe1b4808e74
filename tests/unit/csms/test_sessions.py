"""Session rules and reading energy registers from OCPP meter values."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from csms.sessions import Session, energy_register_wh
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
    closed = a_session(meter_start_wh=5000).close(4000, T0, None)
    assert closed is not None and closed.energy_wh == 0


def test_a_stop_stamped_before_the_start_ends_at_the_start():
    closed = a_session().close(2000, T0 - timedelta(seconds=5), None)
    assert closed is not None and closed.duration_sec == 0


def test_the_energy_register_is_read_in_any_unit_and_multiplier():
    v16 = [
        {
            "timestamp": "t1",
            "sampled_value": [
                {"value": "12.5", "unit": "kWh"},
                {"value": "230", "measurand": "Voltage", "unit": "V"},
                {"value": "4000", "measurand": "Energy.Active.Import.Register", "phase": "L1"},
            ],
        }
    ]
    assert energy_register_wh(v16) == 12_500
    v201 = [
        {
            "timestamp": "2026-01-01T00:00:00Z",
            "sampled_value": [
                {
                    "value": 15.3,
                    "measurand": "Energy.Active.Import.Register",
                    "unit_of_measure": {"unit": "Wh", "multiplier": 3},
                }
            ],
        }
    ]
    assert energy_register_wh(v201) == 15_300
    assert energy_register_wh(None) is None
    assert (
        energy_register_wh(
            [
                {
                    "timestamp": "t",
                    "sampled_value": [{"value": "9", "measurand": "Current.Import", "unit": "A"}],
                }
            ]
        )
        is None
    )


def test_the_newest_reading_wins():
    values = [
        {"timestamp": "2026-01-01T00:10:00Z", "sampled_value": [{"value": "900"}]},
        {"timestamp": "2026-01-01T00:05:00Z", "sampled_value": [{"value": "500"}]},
    ]
    assert energy_register_wh(values) == 900


@given(start=st.integers(0, 10**9), delta=st.integers(-(10**6), 10**9))
def test_energy_is_never_negative_and_kwh_is_exact(start, delta):
    closed = a_session(meter_start_wh=start).close(start + delta, T0, None)
    assert closed is not None
    assert closed.energy_wh == max(0, delta)
    assert closed.kwh * 1000 == closed.energy_wh
