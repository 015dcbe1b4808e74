"""JSON Schemas of the ops request bodies."""

from __future__ import annotations

from typing import Any

from ops.domain import SEVERITIES, RuleKind

_ID = {"type": "string", "minLength": 1, "maxLength": 128}

RULE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "kind": {"enum": [k.value for k in RuleKind]},
        "window_sec": {"type": "integer", "minimum": 0, "maximum": 30 * 24 * 3600},
        "severity": {"enum": list(SEVERITIES)},
        "charger_id": _ID,
        "lot_id": _ID,
        "threshold_percent": {"type": "number", "minimum": 0, "maximum": 100},
        "ev_only": {"type": "boolean"},
        "enabled": {"type": "boolean"},
        "tolerance_amps": {"type": "number", "minimum": 0, "maximum": 10000},
    },
    "required": ["kind", "window_sec"],
    "additionalProperties": False,
}

RULE_TEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rule": RULE,
        "from": {"type": "string", "maxLength": 64},
    },
    "required": ["rule"],
    "additionalProperties": False,
}

# Either counts per level, or parking's own lot document (`GET /parking/lots/{id}`) as it is:
# its levels' slot lists are counted (in-service slots, EV bays apart).
_SLOT = {
    "type": "object",
    "properties": {"ev_bay": {"type": "boolean"}, "in_service": {"type": "boolean"}},
}
CAPACITY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "levels": {
            "type": "array",
            "minItems": 1,
            "maxItems": 200,
            "items": {
                "type": "object",
                "properties": {
                    "level": {"type": "string", "minLength": 1, "maxLength": 128},
                    "slots": {
                        "oneOf": [
                            {"type": "integer", "minimum": 0, "maximum": 100000},
                            {"type": "array", "maxItems": 100000, "items": _SLOT},
                        ]
                    },
                    "ev_bays": {"type": "integer", "minimum": 0, "maximum": 100000},
                },
                "required": ["level", "slots"],
            },
        },
    },
    "required": ["levels"],
}
