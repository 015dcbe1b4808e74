"""The parking schemas publish the rules the service applies to plates and times."""

from __future__ import annotations

import fastjsonschema
import pytest

from chargepark.errors import Invalid
from chargepark.http.query import parse_time
from parking.api.schemas import LEAVE, PARK
from parking.domain import normalize_regnum

PLATES = ["ab-123 c", "AB123", " -X- ", "A" * 16, "F)", "", "-", "A" * 17, "ÄB1", "A\u00a01", "A_1"]
TIMES = ["2026-11-27T09:00:00Z", "2026-11-27T09:00:00.5+02:00", "2026-11-27T09:00:00", "not a date"]


def allows(schema: dict, body: dict) -> bool:
    try:
        fastjsonschema.compile(schema)(body)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def service_takes(parse, raw: str) -> bool:
    try:
        parse(raw)
    except Invalid:
        return False
    return True


@pytest.mark.parametrize("regnum", PLATES)
def test_a_plate_is_allowed_by_the_schema_exactly_when_the_service_normalizes_it(regnum):
    park = {"regnum": regnum, "kind": "CAR", "fuel": "ICE"}
    assert allows(PARK, park) == service_takes(normalize_regnum, regnum)
    assert allows(LEAVE, {"regnum": regnum}) == service_takes(normalize_regnum, regnum)


@pytest.mark.parametrize("ts", TIMES)
def test_ts_is_allowed_by_the_schema_exactly_when_the_service_parses_it(ts):
    park = {"regnum": "AB123", "kind": "CAR", "fuel": "ICE", "ts": ts}
    assert allows(PARK, park) == service_takes(lambda raw: parse_time(raw, "ts"), ts)
