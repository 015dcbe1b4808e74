"""What a scenario is, once read: its lot, chargers and cars, each with a script of steps
(the file format is in model.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

CAR_STEPS = ("arrive", "park", "plug", "authorize", "charge", "stop", "unplug", "leave", "wait")
CHARGER_STEPS = ("fault", "recover", "disconnect", "reconnect", "reboot", "wait")
VERSIONS = ("1.6", "2.0.1")
KINDS = ("CAR", "MOTORBIKE", "VAN")
FUELS = ("EV", "ICE", "PHEV")


class ScenarioError(ValueError):
    """The scenario file is not valid; the message names the place."""


@dataclass
class Step:
    do: str
    at: float | None = None  # simulated seconds after the start
    args: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.args.items())
        return f"{self.do} {extra}".strip()


@dataclass
class ChargerSpec:
    id: str
    ocpp: str = "1.6"
    evses: int = 1
    connectors_per_evse: int = 1
    kw: float = 11.0
    dc: bool = False
    password: str | None = None
    bay: bool = True
    tariff_id: str | None = None
    phases: int = 3
    reaction_time: float = 1.0  # simulated seconds before its car obeys a new limit
    reject_profiles: bool = False
    ignore_limits: bool = False
    steps: list[Step] = field(default_factory=list)


@dataclass
class CarSpec:
    regnum: str
    kind: str = "CAR"
    fuel: str = "EV"
    customer: str | None = None
    id_token: str | None = None
    battery_kwh: float = 60.0
    soc: float = 0.2
    max_kw: float | None = None
    phases: int = 3
    max_amps: float | None = None  # AC: A per phase its on-board charger takes
    iso15118: bool = False  # 2.0.1: it tells its departure and energy (NotifyEVChargingNeeds)
    taper_from: float | None = None
    steps: list[Step] = field(default_factory=list)

    def departure(self) -> float | None:
        """When it stops charging and goes: its `stop` (else `leave`) step's `at`."""
        for do in ("stop", "leave"):
            for s in self.steps:
                if s.do == do and s.at is not None:
                    return s.at
        return None

    def target_soc(self) -> float:
        for s in self.steps:
            if s.do == "charge" and "soc" in s.args:
                return float(s.args["soc"])
        return 1.0


@dataclass
class LotSpec:
    id: str = "SIM"
    name: str = "Simulator garage"
    regular_slots: int = 0
    level: str = "P0"


@dataclass
class EnergySpec:
    """A lot's connection (`[energy]`), set up through PUT /charging/sites/{lot id}, and what
    the run reports about it; `short` shrinks the run for CI (`--short`)."""

    phases: int = 3
    voltage: float = 230.0
    limit_amps: float = 145.0  # per phase
    margin_amps: float = 0.0
    sample_sec: float = 2.0  # simulated seconds between samples of every car's power
    grace_sec: float = 6.0  # the platform's and the charger's reaction: over the limit this
    # long after a change is expected; beyond it is a failure
    short_cars: int = 8
    short_chargers: int = 6
    short_scale: float = 0.25  # every offset and wait times this
    short_speed: float = 1200.0
    short_limit_amps: float | None = None  # fewer bays share a smaller connection

    @property
    def limit_w(self) -> float:
        return self.limit_amps * self.voltage * self.phases


@dataclass
class Scenario:
    name: str
    description: str = ""
    speed: float = 60.0
    meter_interval: int = 60
    lot: LotSpec = field(default_factory=LotSpec)
    chargers: list[ChargerSpec] = field(default_factory=list)
    cars: list[CarSpec] = field(default_factory=list)
    path: Path | None = None
    energy: EnergySpec | None = None

    def planned_seconds(self) -> float:
        """About how long the timeline runs (simulated): the latest script's end."""
        ends = [_script_length(c.steps, c.kw, c.dc) for c in self.chargers]
        for car in self.cars:
            kw = max((c.kw for c in self.chargers), default=11.0)
            ends.append(_script_length(car.steps, kw, False))
        return max(ends, default=0.0)

    def charger(self, charger_id: str) -> ChargerSpec:
        for c in self.chargers:
            if c.id == charger_id:
                return c
        raise ScenarioError(f"no charger {charger_id!r} in the scenario")

    def with_tag(self, tag: str) -> Scenario:
        """Every id the scenario creates, with `tag` appended, so it can run again on the same
        platform (a vehicle's new arrival may not come before its previous departure)."""
        if not tag:
            return self
        ids = {c.id: f"{c.id}-{tag}" for c in self.chargers}
        chargers = [
            ChargerSpec(**{**c.__dict__, "id": ids[c.id], "steps": c.steps}) for c in self.chargers
        ]
        cars = []
        for car in self.cars:
            steps = [_retarget(s, ids) for s in car.steps]
            cars.append(
                CarSpec(
                    **{
                        **car.__dict__,
                        "regnum": (car.regnum + tag)[:16],
                        "id_token": car.id_token + tag if car.id_token else None,
                        "steps": steps,
                    }
                )
            )
        lot = LotSpec(**{**self.lot.__dict__, "id": f"{self.lot.id}-{tag}"[:32]})
        return replace(self, lot=lot, chargers=chargers, cars=cars)

    def shortened(self) -> Scenario:
        """The CI form of an energy scenario: its first chargers and cars, every offset and
        wait scaled down, a faster clock (`[energy]` short_*)."""
        e = self.energy
        if e is None:
            raise ScenarioError(f"{self.name}: only a scenario with [energy] has a short form")
        chargers = self.chargers[: e.short_chargers]
        known = {c.id for c in chargers}
        cars = []
        for car in self.cars[: e.short_cars]:
            steps = [_scaled(s, e.short_scale) for s in car.steps]
            if any(s.args.get("charger") not in (None, *known) for s in steps):
                continue
            cars.append(replace(car, steps=steps))
        energy = replace(e, limit_amps=e.short_limit_amps or e.limit_amps)
        return replace(self, chargers=chargers, cars=cars, speed=e.short_speed, energy=energy)

    def with_version(self, version: str) -> Scenario:
        """Every charger speaking `version` (a test drives each scenario in both)."""
        for c in self.chargers:
            c.ocpp = version
            if version == "1.6":
                c.connectors_per_evse = 1
        return self


def _scaled(step: Step, factor: float) -> Step:
    args = dict(step.args)
    if "minutes" in args:
        args["minutes"] = float(args["minutes"]) * factor
    return Step(step.do, None if step.at is None else step.at * factor, args)


def _retarget(step: Step, ids: dict[str, str]) -> Step:
    charger = step.args.get("charger")
    if charger in ids:
        return Step(step.do, step.at, {**step.args, "charger": ids[charger]})
    return step


def _script_length(steps: list[Step], kw: float, dc: bool) -> float:
    t = 0.0
    for s in steps:
        if s.at is not None:
            t = max(t, s.at)
        if s.do == "wait":
            t += float(s.args.get("minutes", 0)) * 60
        if s.do == "charge":
            t += float(s.args.get("kwh", 30)) / max(kw, 1.0) * 3600 * (1.5 if dc else 1.0)
        if s.do in ("fault", "disconnect") and "minutes" in s.args:
            t += float(s.args["minutes"]) * 60
    return t
