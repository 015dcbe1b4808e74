"""Request bodies the parking API accepts: JSON Schemas, also published in its OpenAPI."""

from __future__ import annotations

from typing import Any

from parking.domain import (
    LOT_ID_PATTERN,
    MAX_CHARGER_ID,
    MAX_LEVEL_NAME,
    MAX_NAME,
    MAX_SLOT_UI,
    MAX_SLOTS_PER_LOT,
    REGNUM_PATTERN,
    Fuel,
    VehicleKind,
)

_TEXT = "^[^\\u0000-\\u001f\\u007f]+$"  # printable: no control characters
_SLOT_UI = {"type": "integer", "minimum": 1, "maximum": MAX_SLOT_UI}
_SLOT_UIS = {"type": "array", "items": _SLOT_UI, "maxItems": MAX_SLOTS_PER_LOT, "uniqueItems": True}
_LEVEL = {"type": "string", "minLength": 1, "maxLength": MAX_LEVEL_NAME, "pattern": _TEXT}
_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": _TEXT}
# RFC 3339 date-time, with its offset (parse_time refuses a time without one)
_TIMESTAMP = {"type": "string", "format": "date-time", "maxLength": 64}
# A raw plate as the gate read it; normalized to 1-16 of A-Z0-9 by the service.
REGNUM = {"type": "string", "pattern": REGNUM_PATTERN, "maxLength": 32}
_KIND = {"enum": [k.value for k in VehicleKind]}
_FUEL = {"enum": [f.value for f in Fuel]}

_SLOT_FIELDS: dict[str, Any] = {
    "slot_ui": _SLOT_UI,
    "fits": _KIND,
    "ev_bay": {"type": "boolean"},
    "charger_id": {
        "type": ["string", "null"],
        "minLength": 1,
        "maxLength": MAX_CHARGER_ID,
        "pattern": _TEXT,
    },
    "connector_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 64},
    "in_service": {"type": "boolean"},
}


def _object(properties: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False, **rest}


SLOT = _object(_SLOT_FIELDS, required=["slot_ui", "fits"])
SLOT_WITH_LEVEL = _object({**_SLOT_FIELDS, "level": _LEVEL}, required=["slot_ui", "fits", "level"])

NEW_LOT = _object(
    {
        "id": {"type": "string", "pattern": LOT_ID_PATTERN, "maxLength": 32},
        "name": _NAME,
        "ev_bays_for_ice": {"type": "boolean"},
        "levels": {
            "type": "array",
            "maxItems": 100,
            "items": _object(
                {
                    "level": _LEVEL,
                    "slots": {"type": "array", "items": SLOT, "maxItems": MAX_SLOTS_PER_LOT},
                },
                required=["level", "slots"],
            ),
        },
    },
    required=["id", "name", "levels"],
)

LOT_CHANGES = _object(
    {
        "name": _NAME,
        "ev_bays_for_ice": {"type": "boolean"},
        "add_slots": {"type": "array", "items": SLOT_WITH_LEVEL, "maxItems": MAX_SLOTS_PER_LOT},
        "remove_slots": _SLOT_UIS,
        "out_of_service": _SLOT_UIS,
        "in_service": _SLOT_UIS,
    },
    minProperties=1,
)

PARK = _object(
    {
        "regnum": REGNUM,
        "kind": _KIND,
        "fuel": _FUEL,
        "ts": _TIMESTAMP,
        "slot_ui": _SLOT_UI,
        # The driver's declared departure: the energy manager charges towards it.
        "departure_at": _TIMESTAMP,
    },
    required=["regnum", "kind", "fuel"],
)

LEAVE = _object(
    {"regnum": REGNUM, "slot_ui": _SLOT_UI, "ts": _TIMESTAMP},
    minProperties=1,
)
