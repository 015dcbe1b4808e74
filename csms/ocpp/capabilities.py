"""A charger's smart charging limits as each OCPP version reports them.

1.6: configuration keys (Smart Charging profile): ChargeProfileMaxStackLevel,
ChargingScheduleAllowedChargingRateUnit ("Current", "Power"), ChargingScheduleMaxPeriods,
MaxChargingProfilesInstalled, and SupportedFeatureProfiles naming SmartCharging.
2.0.1: the SmartChargingCtrlr component's variables: Enabled and Available, ProfileStackLevel,
RateUnit ("A,W"), PeriodsPerSchedule, and Entries of instance ChargingProfiles (the most
profiles it holds: its maxLimit in a report, or its MaxSet value).

A value the charger does not give stays None (not held to), never guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from csms.domain.charging_profiles import UNKNOWN_LIMITS, RateUnit, SmartChargingLimits

KEYS16 = (
    "ChargeProfileMaxStackLevel",
    "ChargingScheduleAllowedChargingRateUnit",
    "ChargingScheduleMaxPeriods",
    "MaxChargingProfilesInstalled",
    "SupportedFeatureProfiles",
)
CONTROLLER = "SmartChargingCtrlr"
# (variable, instance, attribute type) asked of a 2.0.1 charger.
VARIABLES201 = (
    ("Enabled", None, None),
    ("Available", None, None),
    ("ProfileStackLevel", None, None),
    ("RateUnit", None, None),
    ("PeriodsPerSchedule", None, None),
    ("Entries", "ChargingProfiles", "MaxSet"),
)
_UNITS16 = {"current": RateUnit.AMPS, "power": RateUnit.WATTS}


def request(version: str) -> tuple[str, dict[str, Any]]:
    if version == "1.6":
        return "GetConfiguration", {"key": list(KEYS16)}
    data = []
    for name, instance, attribute in VARIABLES201:
        variable: dict[str, Any] = {"name": name}
        if instance:
            variable["instance"] = instance
        item: dict[str, Any] = {"component": {"name": CONTROLLER}, "variable": variable}
        if attribute:
            item["attributeType"] = attribute
        data.append(item)
    return "GetVariables", {"getVariableData": data}


def limits_of(version: str, response: Mapping[str, Any]) -> SmartChargingLimits:
    """The answer to `request(version)`, read."""
    if version == "1.6":
        return _limits16(response)
    found: dict[str, Any] = {}
    for result in response.get("getVariableResult") or ():
        if result.get("attributeStatus") != "Accepted":
            continue
        if (result.get("component") or {}).get("name") != CONTROLLER:
            continue
        variable = result.get("variable") or {}
        name, instance = variable.get("name"), variable.get("instance")
        _read201(found, name, instance, result.get("attributeValue"))
    return merge(None, found)


def from_report(report_data: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """SmartChargingCtrlr values in a NotifyReport's reportData (camelCase)."""
    found: dict[str, Any] = {}
    for item in report_data:
        if (item.get("component") or {}).get("name") != CONTROLLER:
            continue
        variable = item.get("variable") or {}
        name, instance = variable.get("name"), variable.get("instance")
        actual = next(
            (
                a.get("value")
                for a in item.get("variableAttribute") or ()
                if a.get("type", "Actual") == "Actual"
            ),
            None,
        )
        _read201(found, name, instance, actual)
        max_limit = (item.get("variableCharacteristics") or {}).get("maxLimit")
        if name == "Entries" and instance == "ChargingProfiles" and max_limit is not None:
            found["max_profiles"] = int(max_limit)
    return found


def merge(known: SmartChargingLimits | None, found: Mapping[str, Any]) -> SmartChargingLimits:
    base = known or UNKNOWN_LIMITS
    flags = [found[k] for k in ("enabled", "available") if k in found]
    return SmartChargingLimits(
        supported=all(flags) if flags else base.supported,
        max_stack_level=found.get("max_stack_level", base.max_stack_level),
        units=found.get("units", base.units),
        max_periods=found.get("max_periods", base.max_periods),
        max_profiles=found.get("max_profiles", base.max_profiles),
    )


def _read201(found: dict[str, Any], name: Any, instance: Any, value: Any) -> None:
    if value is None:
        return
    text = str(value).strip()
    if name in ("Enabled", "Available"):
        found[name.lower()] = text.lower() == "true"
    elif name == "RateUnit":
        found["units"] = _units(text, {"a": RateUnit.AMPS, "w": RateUnit.WATTS})
    elif name == "Entries":
        if instance == "ChargingProfiles" and _int(text) is not None:
            found["max_profiles"] = _int(text)
    else:
        field = {"ProfileStackLevel": "max_stack_level", "PeriodsPerSchedule": "max_periods"}
        if name in field and _int(text) is not None:
            found[field[name]] = _int(text)


def _limits16(response: Mapping[str, Any]) -> SmartChargingLimits:
    values = {
        str(k.get("key")): str(k.get("value"))
        for k in response.get("configurationKey") or ()
        if k.get("value") is not None
    }
    found: dict[str, Any] = {}
    if "SupportedFeatureProfiles" in values:
        profiles = {p.strip() for p in values["SupportedFeatureProfiles"].split(",")}
        found["available"] = "SmartCharging" in profiles
    for key, field in (
        ("ChargeProfileMaxStackLevel", "max_stack_level"),
        ("ChargingScheduleMaxPeriods", "max_periods"),
        ("MaxChargingProfilesInstalled", "max_profiles"),
    ):
        if key in values and _int(values[key]) is not None:
            found[field] = _int(values[key])
    if "ChargingScheduleAllowedChargingRateUnit" in values:
        found["units"] = _units(values["ChargingScheduleAllowedChargingRateUnit"], _UNITS16)
    return merge(None, found)


def _units(text: str, spelling: Mapping[str, RateUnit]) -> tuple[RateUnit, ...]:
    units = [spelling.get(part.strip().lower()) for part in text.split(",")]
    return tuple(dict.fromkeys(u for u in units if u is not None))


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
