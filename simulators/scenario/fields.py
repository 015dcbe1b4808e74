"""Reading one field of a scenario table: its type, a time offset, a range drawn from, an id
pattern; each refusal a ScenarioError naming the place."""

from __future__ import annotations

import random
from typing import Any

from simulators.scenario.specs import ScenarioError


def at_offset(value: Any, where: str, rng: random.Random) -> float:
    """An offset, or a range of offsets drawn from (seconds)."""
    if isinstance(value, list):
        if len(value) != 2:
            raise ScenarioError(f"{where}: a range is [low, high]")
        a, b = offset(value[0], where), offset(value[1], where)
        return round(rng.uniform(min(a, b), max(a, b)))
    return offset(value, where)


def draw(value: Any, where: str, rng: random.Random) -> Any:
    if isinstance(value, list):
        if len(value) != 2:
            raise ScenarioError(f"{where}: a range is [low, high]")
        lo, hi = value
        if not isinstance(lo, int | float) or not isinstance(hi, int | float):
            raise ScenarioError(f"{where}: a range of numbers")
        if isinstance(lo, int) and isinstance(hi, int):
            return rng.randint(min(lo, hi), max(lo, hi))
        return round(rng.uniform(min(lo, hi), max(lo, hi)), 3)
    return value


def offset(value: Any, where: str) -> float:
    """Seconds from "H:MM", "H:MM:SS", or minutes as a number."""
    if isinstance(value, bool):
        raise ScenarioError(f'{where}: a time offset such as "1:30" or a number of minutes')
    if isinstance(value, int | float):
        if value < 0:
            raise ScenarioError(f"{where}: not negative")
        return float(value) * 60
    if isinstance(value, str):
        parts = value.split(":")
        if 2 <= len(parts) <= 3 and all(p.isdigit() for p in parts):
            h, m, *s = (int(p) for p in parts)
            if m < 60 and (not s or s[0] < 60):
                return h * 3600 + m * 60 + (s[0] if s else 0)
    raise ScenarioError(f'{where}: a time offset such as "1:30" or a number of minutes')


def formatted(pattern: str, n: int, where: str, count: int, need: bool = True) -> str:
    if count > 1 and need and "{n" not in pattern:
        raise ScenarioError(f'{where}: with count, the name needs {{n}} (e.g. "CP-{{n:02}}")')
    try:
        return pattern.format(n=n)
    except (KeyError, ValueError, IndexError) as exc:
        raise ScenarioError(f"{where}: bad pattern {pattern!r}: {exc}") from None


def only(raw: dict[str, Any], where: str, allowed: set[str]) -> None:
    extra = set(raw) - allowed
    if extra:
        raise ScenarioError(f"{where}: unknown field {sorted(extra)[0]!r}")


def value_of(raw: dict[str, Any], key: str, kind: Any, where: str, default: Any) -> Any:
    if key not in raw:
        return default
    value = raw[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ScenarioError(f"{where}.{key}: wrong type")
    if not isinstance(value, kinds):
        raise ScenarioError(f"{where}.{key}: wrong type")
    return value


def unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ScenarioError(f"two with the {what} {v!r}")
        seen.add(v)
