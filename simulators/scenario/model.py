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

import random
import tomllib
from dataclasses import dataclass, field
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
    steps: list[Step] = field(default_factory=list)


@dataclass
class LotSpec:
    id: str = "SIM"
    name: str = "Simulator garage"
    regular_slots: int = 0
    level: str = "P0"


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
        return Scenario(
            self.name,
            self.description,
            self.speed,
            self.meter_interval,
            lot,
            chargers,
            cars,
            self.path,
        )

    def with_version(self, version: str) -> Scenario:
        """Every charger speaking `version` (a test drives each scenario in both)."""
        for c in self.chargers:
            c.ocpp = version
            if version == "1.6":
                c.connectors_per_evse = 1
        return self


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


# --- reading ------------------------------------------------------------------------------


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


def parse(raw: dict[str, Any], name: str = "scenario") -> Scenario:
    _only(
        raw,
        "scenario",
        {"name", "description", "speed", "seed", "meter_interval", "lot", "chargers", "cars"},
    )
    rng = random.Random(_get(raw, "seed", int, "scenario", 1))
    speed = _get(raw, "speed", (int, float), "scenario", 60)
    if not 0 < speed <= 100_000:
        raise ScenarioError("speed: must be above 0 and at most 100000")
    meter = _get(raw, "meter_interval", int, "scenario", 60)
    if meter <= 0:
        raise ScenarioError("meter_interval: must be positive")
    lot_raw = _get(raw, "lot", dict, "scenario", {})
    _only(lot_raw, "lot", {"id", "name", "regular_slots", "level"})
    lot = LotSpec(
        id=_get(lot_raw, "id", str, "lot", "SIM"),
        name=_get(lot_raw, "name", str, "lot", "Simulator garage"),
        regular_slots=_get(lot_raw, "regular_slots", int, "lot", 0),
        level=_get(lot_raw, "level", str, "lot", "P0"),
    )
    chargers: list[ChargerSpec] = []
    for i, c in enumerate(_get(raw, "chargers", list, "scenario", [])):
        chargers.extend(_chargers(c, f"chargers[{i}]", rng))
    cars: list[CarSpec] = []
    for i, c in enumerate(_get(raw, "cars", list, "scenario", [])):
        cars.extend(_cars(c, f"cars[{i}]", rng))
    _unique([c.id for c in chargers], "charger id")
    _unique([c.regnum for c in cars], "car regnum")
    _unique([c.id_token for c in cars if c.id_token], "id_token")
    known = {c.id for c in chargers}
    for car in cars:
        for s in car.steps:
            target = s.args.get("charger")
            if target is not None and target not in known:
                raise ScenarioError(f"car {car.regnum}: plug into unknown charger {target!r}")
    if not chargers and not cars:
        raise ScenarioError("a scenario needs chargers or cars")
    return Scenario(
        name=_get(raw, "name", str, "scenario", name),
        description=_get(raw, "description", str, "scenario", ""),
        speed=float(speed),
        meter_interval=meter,
        lot=lot,
        chargers=chargers,
        cars=cars,
    )


def _chargers(raw: Any, where: str, rng: random.Random) -> list[ChargerSpec]:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be a table")
    _only(
        raw,
        where,
        {
            "id",
            "count",
            "ocpp",
            "evses",
            "connectors_per_evse",
            "kw",
            "dc",
            "password",
            "bay",
            "tariff_id",
            "steps",
        },
    )
    count = _get(raw, "count", int, where, 1)
    if not 1 <= count <= 10_000:
        raise ScenarioError(f"{where}.count: 1 to 10000")
    pattern = _get(raw, "id", str, where, None)
    if pattern is None:
        raise ScenarioError(f"{where}.id: required")
    ocpp = str(_get(raw, "ocpp", (str, float), where, "1.6"))
    if ocpp not in (*VERSIONS, "mix"):
        raise ScenarioError(f"{where}.ocpp: one of 1.6, 2.0.1 or mix")
    out = []
    for n in range(1, count + 1):
        version = ocpp if ocpp != "mix" else VERSIONS[(n - 1) % 2]
        spec = ChargerSpec(
            id=_format(pattern, n, where, count),
            ocpp=version,
            evses=_get(raw, "evses", int, where, 1),
            connectors_per_evse=_get(raw, "connectors_per_evse", int, where, 1),
            kw=float(_get(raw, "kw", (int, float), where, 11.0)),
            dc=_get(raw, "dc", bool, where, False),
            password=_get(raw, "password", str, where, None),
            bay=_get(raw, "bay", bool, where, True),
            tariff_id=_get(raw, "tariff_id", str, where, None),
        )
        if raw.get("kw") is None and spec.dc:
            spec.kw = 150.0
        if not 1 <= spec.evses <= 64 or spec.kw <= 0:
            raise ScenarioError(f"{where}: evses 1 to 64 and a positive kw")
        if spec.password is not None and not 16 <= len(spec.password) <= 40:
            raise ScenarioError(f"{where}.password: 16 to 40 characters (csms's rule)")
        spec.steps = _steps(raw.get("steps", []), f"{spec.id}", CHARGER_STEPS, rng)
        out.append(spec)
    return out


def _cars(raw: Any, where: str, rng: random.Random) -> list[CarSpec]:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be a table")
    _only(
        raw,
        where,
        {
            "regnum",
            "count",
            "kind",
            "fuel",
            "customer",
            "id_token",
            "battery_kwh",
            "soc",
            "max_kw",
            "steps",
        },
    )
    count = _get(raw, "count", int, where, 1)
    if not 1 <= count <= 100_000:
        raise ScenarioError(f"{where}.count: 1 to 100000")
    pattern = _get(raw, "regnum", str, where, None)
    if pattern is None:
        raise ScenarioError(f"{where}.regnum: required")
    out = []
    for n in range(1, count + 1):
        customer = _get(raw, "customer", str, where, None)
        token = _get(raw, "id_token", str, where, None)
        car = CarSpec(
            regnum=_format(pattern, n, where, count).replace("-", "").replace(" ", "").upper(),
            kind=_get(raw, "kind", str, where, "CAR"),
            fuel=_get(raw, "fuel", str, where, "EV"),
            customer=_format(customer, n, where, count, need=False) if customer else None,
            id_token=_format(token, n, where, count) if token else None,
            battery_kwh=float(_draw(raw.get("battery_kwh", 60), f"{where}.battery_kwh", rng)),
            soc=float(_draw(raw.get("soc", 0.2), f"{where}.soc", rng)),
            max_kw=_get(raw, "max_kw", (int, float), where, None),
        )
        if car.kind not in KINDS or car.fuel not in FUELS:
            raise ScenarioError(f"{where}: kind one of {KINDS}, fuel one of {FUELS}")
        if not car.regnum.isalnum() or len(car.regnum) > 16:
            raise ScenarioError(f"{where}.regnum: 1 to 16 letters and digits ({car.regnum!r})")
        if not 0 <= car.soc < 1 or car.battery_kwh <= 0:
            raise ScenarioError(f"{where}: soc from 0 to below 1, a positive battery_kwh")
        car.steps = _steps(raw.get("steps", []), car.regnum, CAR_STEPS, rng)
        rfid = any(s.do == "authorize" and s.args.get("how", "rfid") == "rfid" for s in car.steps)
        if rfid and car.id_token is None:
            raise ScenarioError(f"car {car.regnum}: authorize needs an id_token")
        out.append(car)
    return out


STEP_ARGS: dict[str, set[str]] = {
    "arrive": {"slot"},
    "park": {"slot"},
    "plug": {"charger", "evse", "connector"},
    "authorize": {"how"},
    "charge": {"kwh", "soc"},
    "stop": {"how"},
    "unplug": set(),
    "leave": set(),
    "wait": {"minutes"},
    "fault": {"evse", "error_code", "minutes"},
    "recover": {"evse"},
    "disconnect": {"minutes"},
    "reconnect": set(),
    "reboot": set(),
}


def _steps(raw: Any, who: str, allowed: tuple[str, ...], rng: random.Random) -> list[Step]:
    if not isinstance(raw, list):
        raise ScenarioError(f"{who}.steps: must be a list")
    steps = []
    for i, item in enumerate(raw):
        where = f"{who}.steps[{i}]"
        if not isinstance(item, dict) or "do" not in item:
            raise ScenarioError(f"{where}: a table with `do`")
        do = item["do"]
        if do not in allowed:
            raise ScenarioError(f"{where}: `{do}` is not one of {', '.join(allowed)}")
        extra = set(item) - {"do", "at"} - STEP_ARGS[do]
        if extra:
            raise ScenarioError(f"{where}: {do} takes no {', '.join(sorted(extra))}")
        at = None if "at" not in item else _at(item["at"], f"{where}.at", rng)
        args = {k: _draw(v, f"{where}.{k}", rng) for k, v in item.items() if k not in ("do", "at")}
        if do == "authorize" and args.get("how", "rfid") not in ("rfid", "remote"):
            raise ScenarioError(f"{where}.how: rfid or remote")
        if do == "stop" and args.get("how", "rfid") not in ("rfid", "remote", "ev"):
            raise ScenarioError(f"{where}.how: rfid, remote or ev")
        for k in ("kwh", "minutes"):
            if k in args and (not isinstance(args[k], int | float) or args[k] < 0):
                raise ScenarioError(f"{where}.{k}: a non-negative number")
        if "soc" in args and not (isinstance(args["soc"], int | float) and 0 < args["soc"] <= 1):
            raise ScenarioError(f"{where}.soc: a fraction above 0, at most 1")
        steps.append(Step("arrive" if do == "park" else do, at, args))
    return steps


def _at(value: Any, where: str, rng: random.Random) -> float:
    """An offset, or a range of offsets drawn from (seconds)."""
    if isinstance(value, list):
        if len(value) != 2:
            raise ScenarioError(f"{where}: a range is [low, high]")
        a, b = _offset(value[0], where), _offset(value[1], where)
        return round(rng.uniform(min(a, b), max(a, b)))
    return _offset(value, where)


def _draw(value: Any, where: str, rng: random.Random) -> Any:
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


def _offset(value: Any, where: str) -> float:
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


def _format(pattern: str, n: int, where: str, count: int, need: bool = True) -> str:
    if count > 1 and need and "{n" not in pattern:
        raise ScenarioError(f'{where}: with count, the name needs {{n}} (e.g. "CP-{{n:02}}")')
    try:
        return pattern.format(n=n)
    except (KeyError, ValueError, IndexError) as exc:
        raise ScenarioError(f"{where}: bad pattern {pattern!r}: {exc}") from None


def _only(raw: dict[str, Any], where: str, allowed: set[str]) -> None:
    extra = set(raw) - allowed
    if extra:
        raise ScenarioError(f"{where}: unknown field {sorted(extra)[0]!r}")


def _get(raw: dict[str, Any], key: str, kind: Any, where: str, default: Any) -> Any:
    if key not in raw:
        return default
    value = raw[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ScenarioError(f"{where}.{key}: wrong type")
    if not isinstance(value, kinds):
        raise ScenarioError(f"{where}.{key}: wrong type")
    return value


def _unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ScenarioError(f"two with the {what} {v!r}")
        seen.add(v)
