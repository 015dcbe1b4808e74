"""Request bodies the accounts API accepts: JSON Schemas, also published in its OpenAPI."""

from __future__ import annotations

from typing import Any

from accounts.domain import (
    ID_TOKEN_PATTERN,
    MAX_EMAIL_LENGTH,
    MAX_ID_TOKEN_LENGTH,
    MAX_NAME_LENGTH,
    REGNUM_PATTERN,
    Fuel,
    IdTokenStatus,
    IdTokenType,
    VehicleKind,
)
from chargepark.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME_LENGTH}
_EMAIL = {"type": ["string", "null"], "minLength": 3, "maxLength": MAX_EMAIL_LENGTH}
_PASSWORD = {
    "type": "string",
    "minLength": MIN_PASSWORD_LENGTH,
    "maxLength": MAX_PASSWORD_LENGTH,
    "writeOnly": True,
}
_TIMESTAMP = {"type": ["string", "null"], "format": "date-time", "maxLength": 64}
REGNUM = {"type": "string", "pattern": REGNUM_PATTERN, "maxLength": 32}
_ID_TOKEN_STATUS = {"enum": [s.value for s in IdTokenStatus]}


def _object(properties: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "additionalProperties": False, **rest}


NEW_CUSTOMER = _object({"name": _NAME, "email": _EMAIL, "password": _PASSWORD}, required=["name"])

CUSTOMER_CHANGES = _object({"name": _NAME, "email": _EMAIL, "password": _PASSWORD}, minProperties=1)

NEW_VEHICLE = _object(
    {
        "regnum": REGNUM,
        "kind": {"enum": [k.value for k in VehicleKind]},
        "fuel": {"enum": [f.value for f in Fuel]},
    },
    required=["regnum", "kind", "fuel"],
)

NEW_ID_TOKEN = _object(
    {
        "id_token": {
            "type": "string",
            "pattern": ID_TOKEN_PATTERN,
            "maxLength": MAX_ID_TOKEN_LENGTH,
        },
        "type": {"enum": [t.value for t in IdTokenType]},
        "status": _ID_TOKEN_STATUS,
        "expires_at": _TIMESTAMP,
    },
    required=["id_token", "type"],
)

ID_TOKEN_CHANGES = _object({"status": _ID_TOKEN_STATUS, "expires_at": _TIMESTAMP}, minProperties=1)
