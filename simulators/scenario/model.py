"""Scenario files (TOML): a lot, chargers and cars, each with a script of steps.

    name = "single-visit"
    speed = 60                      # simulated seconds per wall second (the CLI may override)

    [lot]
    id = "SIM"
    regular_slots = 2               # plus one EV bay per charger EVSE

    [[chargers]]
    id = "SIM-CP-1"                 # with count = N: a pattern such as "BE-CP-{n:02}"
    ocpp = "1.6"                    # "2.0.1", or "mix" (alternating) with count
    evses = 1
    kw = 11                         # dc = true: 50-150 kW with a taper above 80 % SoC
    steps = [{ do = "fault", at = "0:40", evse = 1 }, { do = "recover", at = "0:50" }]

    [[cars]]
    regnum = "SIM001"
    customer = "Ann Driver"         # omit: an anonymous car
    id_token = "SIMTAG0001"         # its RFID card
    steps = [{ do = "arrive" }, { do = "plug", at = "0:05" }, { do = "authorize" }, ...]

Every step may carry `at` (offset from the scenario's start, "H:MM", "H:MM:SS" or minutes):
it does not begin before then. A number may be a range `[low, high]`, drawn per car or charger
(from `seed`), which with `count` spreads a crowd out.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from simulators.scenario.parsing import parse
from simulators.scenario.specs import (
    CAR_STEPS,
    CHARGER_STEPS,
    FUELS,
    KINDS,
    VERSIONS,
    CarSpec,
    ChargerSpec,
    LotSpec,
    Scenario,
    ScenarioError,
    Step,
)

__all__ = [
    "CAR_STEPS",
    "CHARGER_STEPS",
    "FUELS",
    "KINDS",
    "VERSIONS",
    "CarSpec",
    "ChargerSpec",
    "LotSpec",
    "Scenario",
    "ScenarioError",
    "Step",
    "builtin",
    "load",
    "parse",
    "resolve",
    "shipped",
]


def load(path: str | Path) -> Scenario:
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(f"{p}: no such scenario file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{p}: cannot read it: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from None
    scenario = parse(raw, name=p.stem)
    scenario.path = p
    return scenario


def builtin(name: str) -> Path:
    """A scenario shipped in simulators/scenarios, by name (single-visit, busy-evening, ...)."""
    return Path(__file__).resolve().parent.parent / "scenarios" / f"{name}.toml"


def shipped() -> list[str]:
    return sorted(p.stem for p in builtin("x").parent.glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix or p.exists():
        return p
    if not builtin(name_or_path).exists():
        raise ScenarioError(
            f"no scenario file {name_or_path!r}, and no shipped scenario of that name "
            f"({', '.join(shipped())})"
        )
    return builtin(name_or_path)
