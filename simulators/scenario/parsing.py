"""A scenario's TOML tables read into its specs: every field checked where it is read, a crowd
(`count`) spelled out one by one, ranges drawn from the scenario's seed; then the checks across
tables (unique ids, known chargers)."""

from __future__ import annotations

import random
from typing import Any

from simulators.scenario import energy_spec
from simulators.scenario.fields import at_offset, draw, formatted, only, unique, value_of
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


def parse(raw: dict[str, Any], name: str = "scenario") -> Scenario:
    only(
        raw,
        "scenario",
        {
            "name",
            "description",
            "speed",
            "seed",
            "meter_interval",
            "lot",
            "chargers",
            "cars",
            "energy",
        },
    )
    rng = random.Random(value_of(raw, "seed", int, "scenario", 1))
    speed = value_of(raw, "speed", (int, float), "scenario", 60)
    if not 0 < speed <= 100_000:
        raise ScenarioError("speed: must be above 0 and at most 100000")
    meter = value_of(raw, "meter_interval", int, "scenario", 60)
    if meter <= 0:
        raise ScenarioError("meter_interval: must be positive")
    lot_raw = value_of(raw, "lot", dict, "scenario", {})
    only(lot_raw, "lot", {"id", "name", "regular_slots", "level"})
    lot = LotSpec(
        id=value_of(lot_raw, "id", str, "lot", "SIM"),
        name=value_of(lot_raw, "name", str, "lot", "Simulator garage"),
        regular_slots=value_of(lot_raw, "regular_slots", int, "lot", 0),
        level=value_of(lot_raw, "level", str, "lot", "P0"),
    )
    chargers: list[ChargerSpec] = []
    for i, c in enumerate(value_of(raw, "chargers", list, "scenario", [])):
        chargers.extend(_chargers(c, f"chargers[{i}]", rng))
    cars: list[CarSpec] = []
    for i, c in enumerate(value_of(raw, "cars", list, "scenario", [])):
        cars.extend(_cars(c, f"cars[{i}]", rng))
    unique([c.id for c in chargers], "charger id")
    unique([c.regnum for c in cars], "car regnum")
    unique([c.id_token for c in cars if c.id_token], "id_token")
    known = {c.id for c in chargers}
    for car in cars:
        for s in car.steps:
            target = s.args.get("charger")
            if target is not None and target not in known:
                raise ScenarioError(f"car {car.regnum}: plug into unknown charger {target!r}")
    if not chargers and not cars:
        raise ScenarioError("a scenario needs chargers or cars")
    return Scenario(
        name=value_of(raw, "name", str, "scenario", name),
        description=value_of(raw, "description", str, "scenario", ""),
        speed=float(speed),
        meter_interval=meter,
        lot=lot,
        chargers=chargers,
        cars=cars,
        energy=energy_spec.energy(raw.get("energy")),
    )


def _chargers(raw: Any, where: str, rng: random.Random) -> list[ChargerSpec]:
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where}: must be a table")
    only(
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
            *energy_spec.CHARGER_FIELDS,
        },
    )
    count = value_of(raw, "count", int, where, 1)
    if not 1 <= count <= 10_000:
        raise ScenarioError(f"{where}.count: 1 to 10000")
    pattern = value_of(raw, "id", str, where, None)
    if pattern is None:
        raise ScenarioError(f"{where}.id: required")
    ocpp = str(value_of(raw, "ocpp", (str, float), where, "1.6"))
    if ocpp not in (*VERSIONS, "mix"):
        raise ScenarioError(f"{where}.ocpp: one of 1.6, 2.0.1 or mix")
    out = []
    for n in range(1, count + 1):
        version = ocpp if ocpp != "mix" else VERSIONS[(n - 1) % 2]
        spec = ChargerSpec(
            id=formatted(pattern, n, where, count),
            ocpp=version,
            evses=value_of(raw, "evses", int, where, 1),
            connectors_per_evse=value_of(raw, "connectors_per_evse", int, where, 1),
            kw=float(value_of(raw, "kw", (int, float), where, 11.0)),
            dc=value_of(raw, "dc", bool, where, False),
            password=value_of(raw, "password", str, where, None),
            bay=value_of(raw, "bay", bool, where, True),
            tariff_id=value_of(raw, "tariff_id", str, where, None),
        )
        energy_spec.charger_fields(spec, raw, where)
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
    only(
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
            *energy_spec.CAR_FIELDS,
        },
    )
    count = value_of(raw, "count", int, where, 1)
    if not 1 <= count <= 100_000:
        raise ScenarioError(f"{where}.count: 1 to 100000")
    pattern = value_of(raw, "regnum", str, where, None)
    if pattern is None:
        raise ScenarioError(f"{where}.regnum: required")
    out = []
    for n in range(1, count + 1):
        customer = value_of(raw, "customer", str, where, None)
        token = value_of(raw, "id_token", str, where, None)
        car = CarSpec(
            regnum=formatted(pattern, n, where, count).replace("-", "").replace(" ", "").upper(),
            kind=value_of(raw, "kind", str, where, "CAR"),
            fuel=value_of(raw, "fuel", str, where, "EV"),
            customer=formatted(customer, n, where, count, need=False) if customer else None,
            id_token=formatted(token, n, where, count) if token else None,
            battery_kwh=float(draw(raw.get("battery_kwh", 60), f"{where}.battery_kwh", rng)),
            soc=float(draw(raw.get("soc", 0.2), f"{where}.soc", rng)),
            max_kw=value_of(raw, "max_kw", (int, float), where, None),
        )
        energy_spec.car_fields(car, raw, where, rng)
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
    "charge": {"kwh", "soc", "until"},
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
        at = None if "at" not in item else at_offset(item["at"], f"{where}.at", rng)
        args = {k: draw(v, f"{where}.{k}", rng) for k, v in item.items() if k not in ("do", "at")}
        if do == "authorize" and args.get("how", "rfid") not in ("rfid", "remote"):
            raise ScenarioError(f"{where}.how: rfid or remote")
        if do == "stop" and args.get("how", "rfid") not in ("rfid", "remote", "ev"):
            raise ScenarioError(f"{where}.how: rfid, remote or ev")
        for k in ("kwh", "minutes"):
            if k in args and (not isinstance(args[k], int | float) or args[k] < 0):
                raise ScenarioError(f"{where}.{k}: a non-negative number")
        if args.get("until", "departure") != "departure":
            raise ScenarioError(f"{where}.until: departure (the car's stop step)")
        if "soc" in args and not (isinstance(args["soc"], int | float) and 0 < args["soc"] <= 1):
            raise ScenarioError(f"{where}.soc: a fraction above 0, at most 1")
        steps.append(Step("arrive" if do == "park" else do, at, args))
    return steps
