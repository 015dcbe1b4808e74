"""Request bodies the billing API accepts: JSON Schemas, also published in its OpenAPI."""

from __future__ import annotations

from typing import Any

_TEXT = "^[^\\u0000-\\u001f\\u007f]+$"  # printable: no control characters
_MINOR = {"type": "integer", "minimum": 0, "maximum": 100_000_000}
_MINUTES = {"type": "integer", "minimum": 0, "maximum": 525_600}


def _decimal(maximum: int, places: int) -> dict[str, Any]:
    """A decimal from 0 to `maximum` with at most `places` decimals, as a string ("38.5") or a
    whole number: never a float (binary fractions are inexact). The pattern bounds the string
    form, minimum and maximum the number form (domain/tariff.py checks the same)."""
    digits = len(str(maximum))
    pattern = (
        f"^(?:{maximum}(?:\\.0{{1,{places}}})?|[0-9]{{1,{digits - 1}}}(?:\\.[0-9]{{1,{places}}})?)$"
    )
    return {"type": ["string", "integer"], "pattern": pattern, "minimum": 0, "maximum": maximum}


_PRICE_PER_KWH = _decimal(1_000_000, 6)  # minor units per kWh
_TARIFF_TAX = _decimal(100, 4)  # percent
_INVOICE_TAX = _decimal(100, 6)  # percent, as a manual invoice may state it
# RFC 3339 date-time, with its offset (parse_time refuses a time without one)
_TIMESTAMP = {"type": "string", "format": "date-time", "maxLength": 64}
CUSTOMER_ID = {"type": ["string", "null"], "minLength": 1, "maxLength": 128, "pattern": _TEXT}


def _object(properties: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False, **rest}


_TARIFF_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": _TEXT},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    "energy_minor_per_kwh": _PRICE_PER_KWH,
    "session_fee_minor": _MINOR,
    "parking_minor_per_period": _MINOR,
    "parking_period_minutes": {"type": "integer", "minimum": 1, "maximum": 1440},
    "parking_grace_minutes": _MINUTES,
    "parking_daily_cap_minor": {**_MINOR, "type": ["integer", "null"]},
    "idle_minor_per_minute": _MINOR,
    "idle_after_minutes": _MINUTES,
    "tax_percent": _TARIFF_TAX,
    "valid_from": _TIMESTAMP,
}
_REQUIRED = [
    "currency",
    "energy_minor_per_kwh",
    "session_fee_minor",
    "parking_minor_per_period",
    "parking_period_minutes",
    "tax_percent",
]

NEW_TARIFF = _object(
    {"id": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]{0,31}$"}, **_TARIFF_FIELDS},
    required=["id", *_REQUIRED],
)
TARIFF_VERSION = _object(_TARIFF_FIELDS, required=_REQUIRED)

LINE = _object(
    {
        "description": {"type": "string", "minLength": 1, "maxLength": 300, "pattern": _TEXT},
        "amount_minor": {"type": "integer", "minimum": -100_000_000, "maximum": 100_000_000},
        "kind": {"enum": ["ADJUSTMENT", "CHARGING", "PARKING", "IDLE"]},
        "quantity_note": {"type": "string", "maxLength": 300, "pattern": _TEXT},
    },
    required=["description", "amount_minor"],
)
LINES = _object(
    {"lines": {"type": "array", "items": LINE, "minItems": 1, "maxItems": 100}},
    required=["lines"],
)
NEW_INVOICE = _object(
    {
        "customer_id": CUSTOMER_ID,
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "tax_percent": _INVOICE_TAX,
        "lines": {"type": "array", "items": LINE, "maxItems": 100},
    },
    required=["customer_id"],
)
