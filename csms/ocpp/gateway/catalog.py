"""Which commands csms sends in each OCPP version, and what a valid one looks like.

Requests are checked against the ocpp library's JSON schema for the charger's version, then
turned into the library's request object. The library rewrites key spellings on the way out
(snake_case -> camelCase, with special cases such as "soc" -> "SoC"); every key the schemas
define survives that, but keys inside free-form vendor data may not, so a request that would
not reach the charger exactly as asked is refused instead of being sent altered.
"""

from __future__ import annotations

import decimal
import json
from collections.abc import Mapping
from importlib import resources
from types import ModuleType
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import (
    ValidationError,
    best_match,
)
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.messages import MessageType, get_validator
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargepark.errors import Invalid

COMMANDS: dict[str, tuple[str, ...]] = {
    "1.6": (
        "Reset",
        "UnlockConnector",
        "ChangeAvailability",
        "ChangeConfiguration",
        "GetConfiguration",
        "ClearCache",
        "TriggerMessage",
        "DataTransfer",
        "GetLocalListVersion",
        "SendLocalList",
        "ReserveNow",
        "CancelReservation",
        "SetChargingProfile",
        "ClearChargingProfile",
        "GetCompositeSchedule",
    ),
    "2.0.1": (
        "Reset",
        "UnlockConnector",
        "ChangeAvailability",
        "GetVariables",
        "SetVariables",
        "GetBaseReport",
        "ClearCache",
        "TriggerMessage",
        "DataTransfer",
        "GetTransactionStatus",
        "ReserveNow",
        "CancelReservation",
        "SetChargingProfile",
        "ClearChargingProfile",
        "GetCompositeSchedule",
        "GetChargingProfiles",
    ),
}
ALL_COMMANDS = frozenset(a for actions in COMMANDS.values() for a in actions)
# Sent through the port by remote start/stop (which keep the session in step), never through
# the generic command route.
SESSION_COMMANDS: dict[str, tuple[str, ...]] = {
    "1.6": ("RemoteStartTransaction", "RemoteStopTransaction"),
    "2.0.1": ("RequestStartTransaction", "RequestStopTransaction"),
}
_REQUESTS: dict[str, ModuleType] = {"1.6": call16, "2.0.1": call201}
# 1.6 charging profiles have multipleOf-0.1 limits (in the request of these three, and in
# GetCompositeSchedule's answer), which binary floats fail: the library reads those schemas and
# payloads with Decimal, and so do we. 2.0.1's limits are plain numbers.
_DECIMAL = frozenset(
    {
        ("1.6", "RemoteStartTransaction"),
        ("1.6", "SetChargingProfile"),
        ("1.6", "GetCompositeSchedule"),
    }
)


class InvalidCommand(Invalid):
    """Not a request csms sends to a charger of that version."""


def build_request(version: str, action: str, payload: Mapping[str, Any]) -> Any:
    """The library's request object for `payload`, once it is a valid `action` in `version`."""
    actions = COMMANDS.get(version)
    if actions is None:
        raise InvalidCommand(f"csms sends no commands to OCPP {version} chargers")
    if action not in actions and action not in SESSION_COMMANDS[version]:
        raise InvalidCommand(
            f"{action} is not a command for an OCPP {version} charger; "
            f"these are: {', '.join(actions)}"
        )
    if not isinstance(payload, Mapping):
        raise InvalidCommand("the body must be a JSON object")
    payload = dict(payload)
    problem = _schema_problem(MessageType.Call, version, action, payload)
    if problem is not None:
        raise InvalidCommand(problem)
    # Only the top-level keys become the library's field names: nested values go out through
    # its snake_case -> camelCase pass alone, which leaves camelCase keys as they are.
    fields = {next(iter(camel_to_snake_case({k: None}))): v for k, v in payload.items()}
    request = getattr(_REQUESTS[version], action)(**fields)
    altered = _first_difference(payload, wire_payload(request))
    if altered is not None:
        raise InvalidCommand(
            f"{altered}: this key or value would not reach the charger as given "
            "(vendor data keys must be camelCase, without nulls)"
        )
    return request


def wire_payload(message: Any) -> dict[str, Any]:
    """A library request or result object as the frame carries it: what the library's
    `call()` sends, and how its answer reads in the charger's own spelling."""
    payload: dict[str, Any] = snake_to_camel_case(remove_nones(serialize_as_dict(message)))
    return payload


def answer_problem(version: str, action: str, payload: Mapping[str, Any]) -> str | None:
    """Why the charger's answer does not match the action's response schema, if it does not."""
    return _schema_problem(MessageType.CallResult, version, action, payload)


def _schema_problem(kind: int, version: str, action: str, payload: Any) -> str | None:
    if (version, action) in _DECIMAL:
        validator = _decimal_validator(kind, action)
        payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
    else:
        validator = get_validator(kind, action, version)  # compiled once per action and version
    error: ValidationError | None = best_match(validator.iter_errors(payload))
    if error is None:
        return None
    return f"{_where(error.absolute_path)}: {error.message}"[:500]


def _decimal_validator(kind: int, action: str) -> Draft4Validator:
    """A 1.6 schema read with Decimal floats, kept here: the library's own validator cache is
    keyed by schema alone, so whichever caller builds a schema's validator first (with or
    without Decimal) decides for every later one, and a Decimal payload against a float
    schema's multipleOf fails with a TypeError rather than an answer."""
    name = action + ("Response" if kind == MessageType.CallResult else "")
    validator = _DECIMAL_VALIDATORS.get(name)
    if validator is None:
        text = (resources.files("ocpp") / "v16" / "schemas" / f"{name}.json").read_text()
        validator = Draft4Validator(json.loads(text, parse_float=decimal.Decimal))
        _DECIMAL_VALIDATORS[name] = validator
    return validator


_DECIMAL_VALIDATORS: dict[str, Draft4Validator] = {}


def _where(path: Any) -> str:
    where = "body"
    for step in path:
        where += f"[{step}]" if isinstance(step, int) else f".{step}"
    return where


def _first_difference(asked: Any, sent: Any, path: tuple[Any, ...] = ()) -> str | None:
    if isinstance(asked, dict) and isinstance(sent, dict):
        for key, value in asked.items():
            if key not in sent:
                return _where((*path, key))
            if (found := _first_difference(value, sent[key], (*path, key))) is not None:
                return found
        return None
    if isinstance(asked, list) and isinstance(sent, list) and len(asked) == len(sent):
        for i, (a, s) in enumerate(zip(asked, sent, strict=True)):
            if (found := _first_difference(a, s, (*path, i))) is not None:
                return found
        return None
    return None if asked == sent and type(asked) is type(sent) else _where(path)
