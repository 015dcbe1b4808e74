"""The fast payload path gives exactly what the ocpp library gives: the same refusals, the same
keys, the same answers."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import FormatViolationError, OCPPError, PropertyConstraintViolationError
from ocpp.messages import Call, CallResult, _validate_payload
from ocpp.v16 import call_result as result16
from ocpp.v201 import call_result as result201
from ocpp.v201 import datatypes

from csms.ocpp import payloads

METER_VALUES_16 = {
    "connectorId": 1,
    "transactionId": 7,
    "meterValue": [
        {
            "timestamp": "2026-11-27T09:00:00Z",
            "sampledValue": [
                {"value": "1234.5", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7.1", "measurand": "Current.Import", "phase": "L1", "unit": "A"},
                {
                    "value": "80",
                    "measurand": "SoC",
                    "unit": "Percent",
                    "context": "Sample.Periodic",
                },
            ],
        }
    ],
}
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("1.6", "MeterValues", METER_VALUES_16),
    ("1.6", "MeterValues", {**METER_VALUES_16, "connectorId": "1"}),
    ("1.6", "MeterValues", {"connectorId": 1}),
    ("1.6", "MeterValues", {**METER_VALUES_16, "extra": True}),
    ("1.6", "StatusNotification", {"connectorId": 1, "errorCode": "Oops", "status": "Available"}),
    ("1.6", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Charging"}),
    # Draft-04's integers, as the library validates: 2.0.1 names draft-06, where 1.0 is one.
    (
        "1.6",
        "StatusNotification",
        {"connectorId": 1.0, "errorCode": "NoError", "status": "Faulted"},
    ),
    (
        "2.0.1",
        "StatusNotification",
        {
            "timestamp": "2026-12-07T10:00:00Z",
            "connectorStatus": "Available",
            "evseId": 1,
            "connectorId": -0.0,
        },
    ),
    ("1.6", "BootNotification", {"chargePointVendor": "V" * 21, "chargePointModel": "M"}),
    ("2.0.1", "Heartbeat", {}),
    (
        "2.0.1",
        "BootNotification",
        {"reason": "PowerUp", "chargingStation": {"model": "M", "vendorName": "V"}},
    ),
    (
        "2.0.1",
        "BootNotification",
        {"reason": "Bored", "chargingStation": {"model": "M", "vendorName": "V"}},
    ),
]


def outcome(check: Any, version: str, action: str, payload: dict[str, Any]) -> Any:
    try:
        check(Call("id-1", action, payload), version)
    except OCPPError as exc:
        return type(exc), str(exc.__cause__ or exc.__context__ or exc)
    return None


@pytest.mark.parametrize(("version", "action", "payload"), CASES)
def test_a_call_is_accepted_or_refused_as_the_library_decides(version, action, payload):
    assert outcome(payloads.validate, version, action, payload) == outcome(
        _validate_payload, version, action, payload
    )


def test_an_invalid_answer_of_ours_is_refused():
    with pytest.raises(OCPPError):
        payloads.validate(CallResult("id-1", {"currentTime": 5}, action="Heartbeat"), "1.6")


def test_keys_convert_as_the_library_converts_them():
    assert payloads.to_snake(METER_VALUES_16) == camel_to_snake_case(METER_VALUES_16)
    assert payloads.to_snake(METER_VALUES_16) == camel_to_snake_case(METER_VALUES_16)  # memo


@pytest.mark.parametrize(
    "response",
    [
        result16.Heartbeat(current_time="2026-11-27T09:00:00Z"),
        result16.BootNotification(
            current_time="2026-11-27T09:00:00Z", interval=300, status="Accepted"
        ),
        result16.StatusNotification(),
        result16.Authorize(id_tag_info={"status": "Accepted", "expiry_date": None}),
        result201.Authorize(id_token_info=datatypes.IdTokenInfoType(status="Accepted")),
        result201.BootNotification(
            current_time="2026-11-27T09:00:00Z",
            interval=300,
            status="Accepted",
            status_info=datatypes.StatusInfoType(reason_code="x"),
        ),
    ],
)
def test_answers_serialize_as_the_library_serializes_them(response):
    assert payloads.answer_payload(response) == snake_to_camel_case(
        remove_nones(serialize_as_dict(response))
    )


@pytest.mark.parametrize(
    ("measurand", "accepted"),
    [
        ("Energy.Active.Import.Register", True),
        ("RPM", True),
        ("Celsius", False),  # a unit, not a measurand
        ("SoC\n", False),
        ("soc", False),
        (5, False),
        (None, False),
        (["SoC"], False),
    ],
)
def test_the_compiled_check_accepts_exactly_the_enum_values(measurand, accepted):
    # Its refusals go to the library, so only its acceptance could be wrong: checked directly.
    import fastjsonschema

    value = {"value": "1", "measurand": measurand}
    payload = {
        **METER_VALUES_16,
        "meterValue": [{"timestamp": "2026-11-27T09:00:00Z", "sampledValue": [value]}],
    }
    compiled = payloads._compiled_for(Call("id-1", "MeterValues", payload), "1.6")
    assert compiled is not None
    check = compiled[0]
    try:
        check(payload)
        passed = True
    except fastjsonschema.JsonSchemaException:
        passed = False
    assert passed is accepted
    library = outcome(_validate_payload, "1.6", "MeterValues", payload) is None
    assert library is accepted


START_16 = {
    "connectorId": 1,
    "idTag": "RFID-1",
    "meterStart": 0,
    "timestamp": "2026-11-27T09:00:00Z",
}
EVENT_201 = {
    "eventType": "Started",
    "timestamp": "2026-11-27T09:00:00Z",
    "triggerReason": "Authorized",
    "seqNo": 0,
    "transactionInfo": {"transactionId": "TX-1"},
    "evse": {"id": 1, "connectorId": 1},
}
BEYOND_INT64 = 2**64
METER_VALUE_201 = [{"timestamp": "2026-11-27T09:00:00Z", "sampledValue": [{"value": 1.5}]}]


@pytest.mark.parametrize(
    ("version", "action", "payload", "path"),
    [
        ("1.6", "StartTransaction", {**START_16, "connectorId": BEYOND_INT64}, "$.connectorId"),
        ("1.6", "StartTransaction", {**START_16, "connectorId": -1}, "$.connectorId"),
        ("1.6", "StartTransaction", {**START_16, "meterStart": -1}, "$.meterStart"),
        ("1.6", "StartTransaction", {**START_16, "meterStart": 2**31}, "$.meterStart"),
        (
            "1.6",
            "MeterValues",
            {**METER_VALUES_16, "transactionId": BEYOND_INT64},
            "$.transactionId",
        ),
        ("2.0.1", "TransactionEvent", {**EVENT_201, "seqNo": 2**31}, "$.seqNo"),
        ("2.0.1", "TransactionEvent", {**EVENT_201, "evse": {"id": -1}}, "$.evse.id"),
        (
            "2.0.1",
            "TransactionEvent",
            {**EVENT_201, "evse": {"id": 1, "connectorId": BEYOND_INT64}},
            "$.evse.connectorId",
        ),
        (
            "2.0.1",
            "TransactionEvent",
            {**EVENT_201, "numberOfPhasesUsed": 4},
            "$.numberOfPhasesUsed",
        ),
        ("2.0.1", "MeterValues", {"evseId": -(2**63), "meterValue": METER_VALUE_201}, "$.evseId"),
    ],
)
def test_an_integer_beyond_its_bounds_is_a_property_constraint_violation(
    version, action, payload, path
):
    assert outcome(_validate_payload, version, action, payload) is None  # the schema allows it
    with pytest.raises(PropertyConstraintViolationError) as refused:
        payloads.validate(Call("id-1", action, payload), version)
    assert refused.value.details["cause"].startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("version", "action", "payload"),
    [
        ("1.6", "StartTransaction", {**START_16, "connectorId": 0, "meterStart": 2**31 - 1}),
        ("2.0.1", "TransactionEvent", {**EVENT_201, "seqNo": 2**31 - 1}),
    ],
)
def test_an_integer_at_its_bounds_is_accepted(version, action, payload):
    payloads.validate(Call("id-1", action, payload), version)


def test_a_schema_error_is_still_the_librarys_when_a_bound_fails_too():
    payload = {**START_16, "connectorId": BEYOND_INT64, "idTag": 5}
    assert outcome(payloads.validate, "1.6", "StartTransaction", payload) == outcome(
        _validate_payload, "1.6", "StartTransaction", payload
    )


def meter_values_16(value: str, **sample: Any) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "meterValue": [
            {"timestamp": "2026-11-27T09:00:00Z", "sampledValue": [{"value": value, **sample}]}
        ],
    }


def meter_values_201(value: float, **unit: Any) -> dict[str, Any]:
    sample: dict[str, Any] = {"value": value}
    if unit:
        sample["unitOfMeasure"] = unit
    return {
        "evseId": 1,
        "meterValue": [{"timestamp": "2026-11-27T09:00:00Z", "sampledValue": [sample]}],
    }


def with_measurand(payload: dict[str, Any], measurand: str) -> dict[str, Any]:
    payload["meterValue"][0]["sampledValue"][0]["measurand"] = measurand
    return payload


@pytest.mark.parametrize(
    ("version", "action", "payload"),
    [
        ("1.6", "MeterValues", meter_values_16("1e308")),
        ("1.6", "MeterValues", meter_values_16("NaN")),
        ("1.6", "MeterValues", meter_values_16("Infinity")),
        ("1.6", "MeterValues", meter_values_16("-Infinity")),
        ("1.6", "MeterValues", meter_values_16("1e999")),
        ("1.6", "MeterValues", meter_values_16("1000000001", unit="kWh")),
        (
            "1.6",
            "StopTransaction",
            {
                "meterStop": 10,
                "timestamp": "2026-11-27T09:00:00Z",
                "transactionId": 1,
                "transactionData": meter_values_16("-1e13")["meterValue"],
            },
        ),
        ("2.0.1", "MeterValues", meter_values_201(1e308)),
        ("2.0.1", "MeterValues", meter_values_201(-1)),  # a register never counts down
        ("1.6", "MeterValues", meter_values_16("-1", measurand="Energy.Active.Export.Register")),
        ("2.0.1", "MeterValues", meter_values_201(-1e308)),
        ("2.0.1", "MeterValues", meter_values_201(float("nan"))),
        ("2.0.1", "MeterValues", meter_values_201(float("inf"))),
        ("2.0.1", "MeterValues", meter_values_201(2, unit="Wh", multiplier=12)),
        ("2.0.1", "MeterValues", meter_values_201(1, unit="Wh", multiplier=2**31 - 1)),
        ("2.0.1", "MeterValues", meter_values_201(1.5e9, unit="kWh")),
        (
            "2.0.1",
            "TransactionEvent",
            {**EVENT_201, "meterValue": meter_values_201(1e308)["meterValue"]},
        ),
    ],
)
def test_a_reading_beyond_what_we_store_is_a_property_constraint_violation(
    version, action, payload
):
    with pytest.raises(PropertyConstraintViolationError) as refused:
        payloads.validate(Call("id-1", action, payload), version)
    key = "transactionData" if action == "StopTransaction" else "meterValue"
    assert refused.value.details["cause"].startswith(f"$.{key}[0].sampledValue[0].value: ")


@pytest.mark.parametrize(
    ("version", "payload"),
    [
        ("1.6", meter_values_16("1000000000000")),
        ("1.6", meter_values_16("1000000000", unit="kWh")),
        ("1.6", meter_values_16("not a number")),  # kept as sent, read as no reading
        ("1.6", meter_values_16("x", format="SignedData")),
        ("2.0.1", with_measurand(meter_values_201(-1e12), "Power.Active.Import")),
        ("2.0.1", meter_values_201(1, unit="Wh", multiplier=12)),
        ("2.0.1", meter_values_201(5, unit="Wh", multiplier=-(2**31))),
    ],
)
def test_a_reading_within_bounds_is_accepted(version, payload):
    payloads.validate(Call("id-1", "MeterValues", payload), version)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
@pytest.mark.parametrize(
    "stamp", ["not a time", "", "2024-13-45T99:99:99Z", "2026-12-07T10:00:00", "2026-12-07"]
)
def test_an_unreadable_date_time_is_a_format_violation_the_library_would_let_through(
    version, stamp
):
    # The library checks no `format`; a date-time nobody can read is a syntax error (issue 15).
    payload = (
        {"connectorId": 1, "errorCode": "NoError", "status": "Charging", "timestamp": stamp}
        if version == "1.6"
        else {"timestamp": stamp, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
    )
    assert outcome(_validate_payload, version, "StatusNotification", payload) is None
    refused, cause = outcome(payloads.validate, version, "StatusNotification", payload)
    assert refused is FormatViolationError
    assert "date-time" in cause


@pytest.mark.parametrize("stamp", ["2026-12-07T10:00:00Z", "2026-12-07T10:00:00.123+02:00"])
def test_a_readable_date_time_with_a_zone_passes(stamp):
    assert payloads.is_date_time(stamp)
