"""Event schemas, compiled once, checked on every event a service writes to its outbox.

Validation happens before commit, so a producer bug fails the request that caused it instead of
poisoning the outbox; consumers trust what the bus delivers and do not re-validate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

from chargepark.errors import SchemaViolation

_Validator = Callable[[Any], Any]


@cache
def _validators() -> Mapping[tuple[str, int], _Validator]:
    found: dict[tuple[str, int], _Validator] = {}
    for entry in resources.files("chargepark.events.schemas").iterdir():
        if not entry.name.endswith(".json"):
            continue
        name, version, _ = entry.name.rsplit(".", 2)
        schema = json.loads(entry.read_text(encoding="utf-8"))
        found[(name, int(version.removeprefix("v")))] = fastjsonschema.compile(schema)
    return found


def known_events() -> list[str]:
    return sorted({name for name, _ in _validators()})


def schema_of(name: str, version: int = 1) -> dict[str, Any]:
    text = resources.files("chargepark.events.schemas").joinpath(f"{name}.v{version}.json")
    return json.loads(text.read_text(encoding="utf-8"))


def validate_event(event: Mapping[str, Any]) -> None:
    name, version = event.get("event"), event.get("schema_version")
    validator = _validators().get((name, version))  # type: ignore[arg-type]
    if validator is None:
        raise SchemaViolation(f"no schema for event {name!r} version {version!r}")
    try:
        validator(event)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise SchemaViolation(f"{name}: {exc.message}") from exc
