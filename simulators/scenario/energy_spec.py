"""The `[energy]` table of a scenario (a lot's connection and its report) and the smart
charging fields of chargers and cars, read and checked."""

from __future__ import annotations

import random
from typing import Any

from simulators.scenario.fields import draw, only, value_of
from simulators.scenario.specs import CarSpec, ChargerSpec, EnergySpec, ScenarioError

CHARGER_FIELDS = {"phases", "reaction_time", "reject_profiles", "ignore_limits"}
CAR_FIELDS = {"phases", "max_amps", "iso15118", "taper_from"}
NUMBERS = (int, float)


def energy(raw: Any) -> EnergySpec | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ScenarioError("energy: must be a table")
    only(raw, "energy", {"phases", "voltage", "limit_amps", "margin_amps", "sample_sec",
                         "grace_sec", "short"})  # fmt: skip
    short = value_of(raw, "short", dict, "energy", {})
    only(short, "energy.short", {"cars", "chargers", "scale", "speed", "limit_amps"})
    spec = EnergySpec(
        phases=value_of(raw, "phases", int, "energy", 3),
        voltage=float(value_of(raw, "voltage", NUMBERS, "energy", 230.0)),
        limit_amps=float(value_of(raw, "limit_amps", NUMBERS, "energy", 145.0)),
        margin_amps=float(value_of(raw, "margin_amps", NUMBERS, "energy", 0.0)),
        sample_sec=float(value_of(raw, "sample_sec", NUMBERS, "energy", 2.0)),
        grace_sec=float(value_of(raw, "grace_sec", NUMBERS, "energy", 6.0)),
        short_cars=value_of(short, "cars", int, "energy.short", 8),
        short_chargers=value_of(short, "chargers", int, "energy.short", 6),
        short_scale=float(value_of(short, "scale", NUMBERS, "energy.short", 0.25)),
        short_speed=float(value_of(short, "speed", NUMBERS, "energy.short", 1200.0)),
        short_limit_amps=value_of(short, "limit_amps", NUMBERS, "energy.short", None),
    )
    if spec.phases not in (1, 3) or not 100 <= spec.voltage <= 1000:
        raise ScenarioError("energy: phases 1 or 3, voltage 100 to 1000")
    if spec.limit_amps <= 0 or spec.margin_amps < 0 or spec.sample_sec <= 0:
        raise ScenarioError("energy: a positive limit_amps and sample_sec, margin_amps >= 0")
    if not 0 < spec.short_scale <= 1 or spec.short_cars < 1 or spec.short_chargers < 1:
        raise ScenarioError("energy.short: scale above 0 up to 1, at least one car and charger")
    return spec


def charger_fields(spec: ChargerSpec, raw: dict[str, Any], where: str) -> None:
    spec.phases = value_of(raw, "phases", int, where, 3)
    spec.reaction_time = float(value_of(raw, "reaction_time", NUMBERS, where, 1.0))
    spec.reject_profiles = value_of(raw, "reject_profiles", bool, where, False)
    spec.ignore_limits = value_of(raw, "ignore_limits", bool, where, False)
    if spec.phases not in (1, 3) or spec.reaction_time < 0:
        raise ScenarioError(f"{where}: phases 1 or 3, reaction_time not negative")


def car_fields(car: CarSpec, raw: dict[str, Any], where: str, rng: random.Random) -> None:
    """`phases = [1, 3]` picks one of them per car; `iso15118 = 0.5` is a share of the cars."""
    phases = raw.get("phases", 3)
    car.phases = rng.choice(phases) if isinstance(phases, list) and phases else phases
    if car.phases not in (1, 3):
        raise ScenarioError(f"{where}.phases: 1 or 3, or a list of them")
    amps = draw(raw.get("max_amps"), f"{where}.max_amps", rng)
    if amps is not None and (not isinstance(amps, NUMBERS) or amps <= 0):
        raise ScenarioError(f"{where}.max_amps: a positive number")
    car.max_amps = None if amps is None else float(amps)
    iso = raw.get("iso15118", False)
    if isinstance(iso, bool):
        car.iso15118 = iso
    elif isinstance(iso, NUMBERS) and 0 <= iso <= 1:
        car.iso15118 = rng.random() < iso
    else:
        raise ScenarioError(f"{where}.iso15118: true, false or a share from 0 to 1")
    taper = value_of(raw, "taper_from", NUMBERS, where, None)
    if taper is not None and not 0 < taper < 1:
        raise ScenarioError(f"{where}.taper_from: a fraction between 0 and 1")
    car.taper_from = taper
