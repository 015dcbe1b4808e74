"""OCPP payloads on the hot path: schema validation and key-case conversion, done fast.

Every CALL and every answer is still validated against the version's JSON schema. The `ocpp`
library walks each schema with jsonschema at every message; here each schema is compiled once
into Python code (fastjsonschema), which accepts a valid MeterValues in a fraction of the time.
The library's validator stays the authority: a payload the compiled code refuses is validated
again by the library, so what is refused, and with which error, is exactly what the library
says (the compiled code checks `format` as well, which the library does not).

The CALL schemas are compiled with bounds on every integer (`_INTEGER_BOUNDS`): the protocol's
schemas leave integers unbounded, our columns and events do not (see `_bounded`).

Key conversion (camelCase <-> snake_case) gives the library's results, remembered per key.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import fastjsonschema
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import best_match
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import FormatViolationError, PropertyConstraintViolationError
from ocpp.messages import Call, CallResult, MessageType, _validate_payload, get_validator

from csms.domain.sessions import READING_MAX

# Validated with Decimal floats by the library (1.6 charging-profile precision): left to it.
_LIBRARY_ONLY = frozenset({"SetChargingProfile", "RemoteStartTransaction", "GetCompositeSchedule"})
_CAUSE_MAX = 255  # as 2.0.1 bounds errorDescription
_MAX_KEYS = 10_000  # payloads may carry vendor keys (customData): the memo must stay bounded

# Every integer a charger sends is bounded, as OCPP types it: "integer: 32 bit (31 bit resolution,
# 1 sign bit)" (2.0.1 Part 2, primitive datatypes; the 1.6 SOAP WSDL types them xs:int). The JSON
# schemas leave them unbounded, and Python reads any length: 2^70 in a connectorId used to reach
# the database and come back as InternalError. int32 is also what our Integer columns hold on
# PostgreSQL (evse_id, connector_id, last_seq_no, remote_start_id, meter_samples.multiplier).
# Ids, counters and meter registers that are never negative say so here ("Definition.property"
# for a property of one definition only, else the property name anywhere).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
_NON_NEGATIVE = (0, INT32_MAX)
_INTEGER_BOUNDS: dict[str, dict[str, tuple[int, int]]] = {
    "1.6": {
        "connectorId": _NON_NEGATIVE,  # 0 is the whole charge point
        "meterStart": _NON_NEGATIVE,  # Wh, a register
        "meterStop": _NON_NEGATIVE,
        "transactionId": _NON_NEGATIVE,  # ours: a store sequence from 1
        "reservationId": _NON_NEGATIVE,
        "requestId": _NON_NEGATIVE,
    },
    "2.0.1": {
        "evseId": _NON_NEGATIVE,  # 0 is the whole station
        "connectorId": _NON_NEGATIVE,
        "EVSEType.id": _NON_NEGATIVE,
        "seqNo": _NON_NEGATIVE,  # E: starts at 0 and increments
        "remoteStartId": _NON_NEGATIVE,
        "reservationId": _NON_NEGATIVE,
        "requestId": _NON_NEGATIVE,
        "numberOfPhasesUsed": (0, 3),
        "cableMaxCurrent": _NON_NEGATIVE,
        "timeSpentCharging": _NON_NEGATIVE,
    },
}
_INT32 = (INT32_MIN, INT32_MAX)

# Sampled values (1.6 a decimal string, 2.0.1 a JSON number), once scaled by the unit's prefix
# and the 2.0.1 multiplier, are at most READING_MAX (10^12) of their base unit (Wh, W, varh, A,
# V, ...) either way: no charger meters a terawatt-hour or draws a teraampere, and 10^12 is exact
# in a double and far inside the bigint columns consumers keep energy in. NaN and Infinity (JSON
# cannot carry them, Python's parser reads them all the same; in 1.6 they are strings) are no
# readings, and a register (a cumulative count, `Energy.Active.Import.Register` when no
# measurand is named) is never negative. Beyond that a value would become an event no consumer
# can store (an energy_wh of 2^63 stalled billing and parking): refused here, as a value outside
# its range (PropertyConstraintViolation, spelt alike in 1.6 and 2.0.1).
_REGISTER = "Energy.Active.Import.Register"  # the measurand when none is named
_PLAIN_MAX = READING_MAX / 1000
_READINGS = {"MeterValues": "meterValue", "TransactionEvent": "meterValue"}
_READINGS_16 = {**_READINGS, "StopTransaction": "transactionData"}

_DRAFT_04 = "http://json-schema.org/draft-04/schema#"


def is_date_time(text: str) -> bool:
    """RFC 3339 date-time, as OCPP's `dateTime` is: a date, a time and a zone (Z or an offset).
    What `datetime.fromisoformat` reads with a zone, so that what passes here the adapters read."""
    if len(text) < 20 or text[10] not in "Tt":
        return False
    try:
        return (
            datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00")).tzinfo is not None
        )
    except ValueError:
        return False


_FORMATS = FormatChecker(formats=())
_FORMATS.checks("date-time")(is_date_time)

# The compiled check, the bounded schema's validator (wording our refusals), the readings' key.
_Compiled = tuple[Callable[[Any], Any], Draft4Validator | None, str | None]
_compiled: dict[tuple[str, int, str], _Compiled | None] = {}
_snake: dict[str, str] = {}
_camel: dict[str, str] = {}


def validate(message: Call | CallResult, ocpp_version: str) -> None:
    """Raise the library's OCPPError for a payload its schema refuses, or the version's
    PropertyConstraintViolation for an integer beyond our bounds."""
    compiled = _compiled_for(message, ocpp_version)
    if compiled is None:
        _validate_payload(message, ocpp_version)
        return
    check, bounds, readings = compiled
    try:
        check(message.payload)
    except fastjsonschema.JsonSchemaException:
        _validate_payload(message, ocpp_version)  # refused: the library decides, and words it
        if bounds is not None:
            # The library's schema passed: one of our added bounds failed (or `format`, which
            # the library does not check). Worded as the library words a schema error, so the
            # edge maps the keyword (`minimum` / `maximum`) to PropertyConstraintViolation.
            # Only a refused payload pays for this second pass.
            error = best_match(bounds.iter_errors(message.payload))
            if error is not None:
                cause = f"{error.json_path}: {error.message}"[:_CAUSE_MAX]
                if error.validator == "format":  # an unreadable date-time: syntax, not a range
                    raise FormatViolationError(details={"cause": cause}) from error
                raise PropertyConstraintViolationError(details={"cause": cause}) from error
    if readings is not None:
        _check_readings(message.payload.get(readings), readings)


def _check_readings(meter_values: Any, key: str) -> None:
    """Raise PropertyConstraintViolation for a sampled value beyond `READING_MAX` (the payload
    has passed its schema: the shapes are right). This sees every sampled value: the common
    reading (a number from 0 to READING_MAX / 1000, no multiplier) costs two comparisons."""
    for meter_value in meter_values or ():
        for sample in meter_value["sampledValue"]:
            value = sample["value"]
            if type(value) is str:  # 1.6: a "Raw" decimal, or signed data that is no number
                try:
                    value = float(value)
                except ValueError:
                    continue  # no number: kept as sent, and read as none
            if 0 <= value <= _PLAIN_MAX and "unitOfMeasure" not in sample:
                continue  # even in kWh within bounds
            if (why := _out_of_range(sample, value)) is not None:
                i, j = next(
                    (i, j)
                    for i, mv in enumerate(meter_values)
                    for j, sv in enumerate(mv["sampledValue"])
                    if sv is sample
                )
                cause = f"$.{key}[{i}].sampledValue[{j}].value: {sample['value']!r} {why}"
                raise PropertyConstraintViolationError(details={"cause": cause[:_CAUSE_MAX]})


def _out_of_range(sample: dict[str, Any], value: float) -> str | None:
    if sample.get("format") == "SignedData":
        return None
    unit_of_measure = sample.get("unitOfMeasure")
    if unit_of_measure is None:
        unit, multiplier = sample.get("unit") or "", 0
    else:
        unit = unit_of_measure.get("unit") or ""
        multiplier = unit_of_measure.get("multiplier", 0)
    try:
        scaled = abs(value) * 10.0**multiplier * (1000 if unit[:1] == "k" else 1)
    except OverflowError:
        scaled = math.inf
    if not scaled <= READING_MAX:  # NaN compares false
        return f"is beyond 1e12 {unit or 'of its unit'} (after unit and multiplier)"
    if value < 0 and (sample.get("measurand") or _REGISTER).endswith("Register"):
        return "is negative, and a register counts up"
    return None


def _compiled_for(message: Call | CallResult, ocpp_version: str) -> _Compiled | None:
    key = (ocpp_version, message.message_type_id, message.action)
    try:
        return _compiled[key]
    except KeyError:
        pass
    compiled = None
    if message.action not in _LIBRARY_ONLY:
        try:
            schema = get_validator(message.message_type_id, message.action, ocpp_version).schema
            bounded = readings = None
            if message.message_type_id == MessageType.Call:
                bounded = _bounded(schema, _INTEGER_BOUNDS.get(ocpp_version, {}))
                readings = (_READINGS_16 if ocpp_version == "1.6" else _READINGS).get(
                    message.action
                )
            formats: dict[str, Callable[[str], bool]] = {}
            compilable = _enums_as_formats(bounded or schema, formats)
            # The library validates every version with Draft4Validator, so draft-04's rules
            # apply: 2.0.1's schemas name draft-06, under which 1.0 and -0.0 are integers and
            # would pass here (then reach the store as floats) while the library refuses them.
            compilable["$schema"] = _DRAFT_04
            formats["date-time"] = is_date_time
            check = fastjsonschema.compile(compilable, formats=formats, use_default=False)
            worded = Draft4Validator(bounded, format_checker=_FORMATS) if bounded else None
            compiled = (check, worded, readings)
        except Exception:  # no schema (the library answers it), or one it cannot compile
            compiled = None
    if len(_compiled) < _MAX_KEYS:
        _compiled[key] = compiled
    return compiled


def _bounded(schema: Any, table: dict[str, tuple[int, int]], definition: str = "") -> Any:
    """The schema, each integer property given `minimum`/`maximum` (its own bounds kept).

    Compiled into the schema check, the bounds cost a comparison or two per integer the
    payload carries: no second pass over the payload, no copy of it."""
    if type(schema) is list:
        return [_bounded(v, table, definition) for v in schema]
    if type(schema) is not dict:
        return schema
    out = {}
    for key, value in schema.items():
        if key == "definitions" and type(value) is dict:
            out[key] = {name: _bounded(v, table, name) for name, v in value.items()}
        elif key == "properties" and type(value) is dict:
            out[key] = {
                name: _bounded_property(name, v, table, definition) for name, v in value.items()
            }
        else:
            out[key] = _bounded(value, table, definition)
    return out


def _bounded_property(name: str, schema: Any, table: dict[str, tuple[int, int]], where: str) -> Any:
    schema = _bounded(schema, table, where)
    if type(schema) is dict and schema.get("type") == "integer":
        low, high = table.get(f"{where}.{name}") or table.get(name) or _INT32
        schema = {"minimum": low, "maximum": high, **schema}
    elif type(schema) is dict and type(schema.get("items")) is dict:
        items = schema["items"]
        if items.get("type") == "integer":  # e.g. lists of ids
            schema = {**schema, "items": {"minimum": INT32_MIN, "maximum": INT32_MAX, **items}}
    return schema


def _enums_as_formats(schema: Any, formats: dict[str, Callable[[str], bool]]) -> Any:
    """The schema, with each string enum checked as a set lookup (a custom `format`).

    fastjsonschema compiles `{"type": "string", "enum": [...]}` into a chain of `isinstance(x,
    str) and x == "..."` per value: 1.6 MeterValues' 22 measurands alone cost up to 44 tests per
    sampled value, most of the time the compiled check took. The type test stays; membership
    becomes one `frozenset.__contains__`. Same acceptance: only what the schema accepts passes.
    """
    if type(schema) is list:
        return [_enums_as_formats(v, formats) for v in schema]
    if type(schema) is not dict:
        return schema
    out = {k: _enums_as_formats(v, formats) for k, v in schema.items()}
    enum = out.get("enum")
    if (
        out.get("type") == "string"
        and "format" not in out
        and type(enum) is list
        and enum
        and all(type(v) is str for v in enum)
    ):
        name = f"chargepark-enum-{len(formats)}"
        formats[name] = frozenset(enum).__contains__
        del out["enum"]
        out["format"] = name
    return out


def to_snake(data: Any) -> Any:
    """`camel_to_snake_case` of the library, with each key converted once."""
    if type(data) is dict:
        out = {}
        for key, value in data.items():
            snake = _snake.get(key)
            if snake is None:
                snake = camel_to_snake_case({key: None}).popitem()[0]
                if len(_snake) < _MAX_KEYS:
                    _snake[key] = snake
            out[snake] = to_snake(value) if type(value) in (dict, list) else value
        return out
    if type(data) is list:
        return [to_snake(v) if type(v) in (dict, list) else v for v in data]
    return data


def answer_payload(response: Any) -> Any:
    """What `snake_to_camel_case(remove_nones(serialize_as_dict(response)))` gives, for a
    call_result dataclass, without deep-copying it first."""
    if type(response) in _EMPTY:  # e.g. StatusNotification's and MeterValues' answers
        return {}
    if not dataclasses.is_dataclass(response) or isinstance(response, type):
        return snake_to_camel_case(remove_nones(serialize_as_dict(response)))
    if not dataclasses.fields(response):
        _EMPTY.add(type(response))
        return {}
    return _camel_of(_plain(response))


_EMPTY: set[type] = set()  # call_result classes without fields


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(v)
            for f in dataclasses.fields(value)
            if (v := getattr(value, f.name)) is not None
        }
    if type(value) is dict:
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if type(value) in (list, tuple):
        return [_plain(v) for v in value if v is not None]
    if isinstance(value, enum.Enum):
        return value  # serialized by its str/int value, as the library's JSON encoder does
    return value


def _camel_of(data: Any) -> Any:
    if type(data) is dict:
        out = {}
        for key, value in data.items():
            camel = _camel.get(key)
            if camel is None:
                camel = snake_to_camel_case({key: None}).popitem()[0]
                if len(_camel) < _MAX_KEYS:
                    _camel[key] = camel
            out[camel] = _camel_of(value)
        return out
    if type(data) is list:
        return [_camel_of(v) for v in data]
    return data
