"""OCPP payloads on the hot path: schema validation and key-case conversion, done fast.

Every CALL and every answer is still validated against the version's JSON schema. The `ocpp`
library walks each schema with jsonschema at every message; here each schema is compiled once
into Python code (fastjsonschema), which accepts a valid MeterValues in a fraction of the time.
The library's validator stays the authority: a payload the compiled code refuses is validated
again by the library, so what is refused, and with which error, is exactly what the library
says (the compiled code checks `format` as well, which the library does not).

Key conversion (camelCase <-> snake_case) gives the library's results, remembered per key.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

import fastjsonschema
from ocpp.charge_point import (
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.messages import Call, CallResult, _validate_payload, get_validator

# Validated with Decimal floats by the library (1.6 charging-profile precision): left to it.
_LIBRARY_ONLY = frozenset({"SetChargingProfile", "RemoteStartTransaction", "GetCompositeSchedule"})
_MAX_KEYS = 10_000  # payloads may carry vendor keys (customData): the memo must stay bounded

_compiled: dict[tuple[str, int, str], Callable[[Any], Any] | None] = {}
_snake: dict[str, str] = {}
_camel: dict[str, str] = {}


def validate(message: Call | CallResult, ocpp_version: str) -> None:
    """Raise the library's OCPPError for a payload its schema refuses."""
    check = _compiled_for(message, ocpp_version)
    if check is not None:
        try:
            check(message.payload)
            return
        except fastjsonschema.JsonSchemaException:
            pass  # refused: the library decides, and words the error
    _validate_payload(message, ocpp_version)


def _compiled_for(message: Call | CallResult, ocpp_version: str) -> Callable[[Any], Any] | None:
    key = (ocpp_version, message.message_type_id, message.action)
    try:
        return _compiled[key]
    except KeyError:
        pass
    check = None
    if message.action not in _LIBRARY_ONLY:
        try:
            schema = get_validator(message.message_type_id, message.action, ocpp_version).schema
            formats: dict[str, Callable[[str], bool]] = {}
            check = fastjsonschema.compile(
                _enums_as_formats(schema, formats), formats=formats, use_default=False
            )
        except Exception:  # no schema (the library answers it), or one it cannot compile
            check = None
    if len(_compiled) < _MAX_KEYS:
        _compiled[key] = check
    return check


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
