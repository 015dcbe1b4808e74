"""Reading OCPP meter values (1.6 and 2.0.1 shapes) into Wh and into a session's readings."""

from __future__ import annotations

from datetime import timedelta

from csms.domain.sessions import ENERGY_INTERVAL, ENERGY_REGISTER, Reading
from csms.ocpp.readings import energy_register_wh, sample_rows, session_readings, wh_of
from tests.conftest import T0


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


def test_wh_of_reads_wh_and_kwh_with_a_multiplier_and_nothing_else():
    assert (wh_of("1.5", "kWh", None), wh_of("15", "Wh", 2), wh_of(7, None, None)) == (
        1500,
        1500,
        7,
    )
    assert wh_of("230", "V", None) is None
    assert wh_of("NaN", "Wh", None) is None
    assert wh_of("1e13", "Wh", None) is None  # beyond READING_MAX: no reading


def test_a_session_s_readings_skip_phases_and_sum_intervals():
    at = [T0 + timedelta(minutes=i) for i in range(4)]
    readings = session_readings(
        [
            (at[0], ENERGY_REGISTER, None, "kWh", None, "1.2"),
            (at[1], ENERGY_REGISTER, "L1", None, None, "400"),
            (at[2], ENERGY_INTERVAL, None, None, None, "300"),
            (at[3], ENERGY_INTERVAL, None, None, 1, "20"),
        ]
    )
    assert (readings.registers, readings.interval_wh) == ([Reading(at[0], 1200)], 500)


def test_sample_rows_keep_every_sampled_value_as_sent():
    def parse(timestamp, field):
        assert field == "transactionData.timestamp"
        return T0

    rows = sample_rows(
        "CP-1",
        1,
        1,
        "7",
        [
            {
                "timestamp": "t",
                "sampled_value": [
                    {"value": "12.5", "unit_of_measure": {"unit": "kWh", "multiplier": 1}},
                    {"value": "230", "measurand": "Voltage", "phase": "L1", "unit": "V"},
                ],
            }
        ],
        parse,
        "transactionData",
    )
    assert [(r["measurand"], r["unit"], r["multiplier"], r["phase"], r["value"]) for r in rows] == [
        (ENERGY_REGISTER, "kWh", 1, None, "12.5"),
        ("Voltage", "V", None, "L1", "230"),
    ]
    assert {(r["charger_id"], r["transaction_id"], r["sampled_at"]) for r in rows} == {
        ("CP-1", "7", T0)
    }
