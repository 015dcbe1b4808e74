"""The tariff and invoice schemas publish the ranges the domain enforces: a value the document
allows is one the service takes, and the other way round."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import fastjsonschema
import pytest

from billing.api.schemas import NEW_INVOICE, TARIFF_VERSION
from billing.domain.tariff import standard_tariff
from chargepark.errors import Invalid

VERSION = {
    "currency": "EUR",
    "energy_minor_per_kwh": "39",
    "session_fee_minor": 50,
    "parking_minor_per_period": 50,
    "parking_period_minutes": 15,
    "tax_percent": "20",
}
TAX = ["0", "100", 100, "100.0000", "99.9999", "100.0001", "99.99999", 101, "101", "5.5"]
PRICE = [
    "0",
    1_000_000,
    "1000000.000000",
    "999999.999999",
    "1000000.000001",
    1_000_001,
    "0.1234567",
]


def schema_allows(schema: dict, body: dict) -> bool:
    try:
        fastjsonschema.compile(schema)(body)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def domain_allows(**changes: Decimal) -> bool:
    try:
        replace(standard_tariff(), **changes)
    except Invalid:
        return False
    return True


@pytest.mark.parametrize("tax", TAX)
def test_a_tariff_tax_is_allowed_by_the_schema_exactly_when_the_domain_takes_it(tax):
    allowed = schema_allows(TARIFF_VERSION, {**VERSION, "tax_percent": tax})
    assert allowed == domain_allows(tax_percent=Decimal(str(tax)))


@pytest.mark.parametrize("price", PRICE)
def test_an_energy_price_is_allowed_by_the_schema_exactly_when_the_domain_takes_it(price):
    allowed = schema_allows(TARIFF_VERSION, {**VERSION, "energy_minor_per_kwh": price})
    assert allowed == domain_allows(energy_minor_per_kwh=Decimal(str(price)))


@pytest.mark.parametrize(("tax", "allowed"), [("100", True), (101, False), ("100.5", False)])
def test_an_invoice_tax_is_a_percentage(tax, allowed):
    assert schema_allows(NEW_INVOICE, {"customer_id": None, "tax_percent": tax}) == allowed


@pytest.mark.parametrize(
    ("valid_from", "allowed"),
    [("2030-01-01T00:00:00Z", True), ("2030-01-01T00:00:00", False), ("not a date", False)],
)
def test_valid_from_is_an_rfc3339_time_with_its_offset(valid_from, allowed):
    assert schema_allows(TARIFF_VERSION, {**VERSION, "valid_from": valid_from}) == allowed
