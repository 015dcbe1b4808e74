"""Smart charging over REST: the operator's charging profiles per charger (stored, sent, sent
again when the charger lost them) and a charger's composite schedule."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chargepark.auth import PRINCIPAL, requires
from chargepark.clock import isoformat_utc
from chargepark.errors import Conflict, Invalid
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from chargepark.http.query import choice_param, int_param, query_choice, query_int
from csms.api.commands import GATEWAY, command_answer
from csms.api.keys import WHEREABOUTS
from csms.domain.charging_profiles import (
    LIMIT_MAX,
    PERIODS_MAX,
    PROFILE_ID_MAX,
    STACK_LEVEL_MAX,
    CompositeSchedule,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    Recurrency,
    StoredProfile,
    profile_as_dict,
    profile_from_dict,
)
from csms.ocpp.gateway import VERSIONS
from csms.ocpp.smart_charging import SmartChargingEdge
from csms.ports.gateway import CommandStatus
from csms.services.charging_profiles import ChargingProfiles

routes = web.RouteTableDef()
PROFILES = web.AppKey("charging_profiles", ChargingProfiles)
# The OCPP edge's smart charging (limits, reports, setup after boot; listeners) and its store's
# reads (`SmartChargingReads`), for whoever the app wires to them (the energy manager).
SMART_CHARGING = web.AppKey("smart_charging", SmartChargingEdge)
TAGS = ["smart charging"]
DURATION_MAX = 7 * 86400

_TIME = {"type": ["string", "null"], "format": "date-time", "maxLength": 40}
_PERIOD = {
    "type": "object",
    "properties": {
        "start_period": {"type": "integer", "minimum": 0, "maximum": 10 * 86400 * 365},
        "limit": {"type": "number", "minimum": 0, "maximum": LIMIT_MAX},
        "number_phases": {"type": ["integer", "null"], "minimum": 1, "maximum": 3},
        "phase_to_use": {"type": ["integer", "null"], "minimum": 1, "maximum": 3},
    },
    "required": ["start_period", "limit"],
    "additionalProperties": False,
}
PROFILE = {
    "type": "object",
    "properties": {
        "profile_id": {"type": ["integer", "null"], "minimum": 1, "maximum": PROFILE_ID_MAX},
        "stack_level": {"type": "integer", "minimum": 0, "maximum": STACK_LEVEL_MAX},
        "purpose": {"enum": [p.value for p in ProfilePurpose]},
        "kind": {"enum": [k.value for k in ProfileKind]},
        "recurrency": {"enum": [*(r.value for r in Recurrency), None]},
        "valid_from": _TIME,
        "valid_to": _TIME,
        "evse_id": {"type": ["integer", "null"], "minimum": 0, "maximum": 64},
        "transaction_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 36},
        "unit": {"enum": [u.value for u in RateUnit]},
        "periods": {"type": "array", "minItems": 1, "maxItems": PERIODS_MAX, "items": _PERIOD},
        "start_schedule": _TIME,
        "duration": {"type": ["integer", "null"], "minimum": 1, "maximum": 2**31 - 1},
        "min_rate": {"type": ["number", "null"], "minimum": 0, "maximum": LIMIT_MAX},
    },
    "required": ["stack_level", "purpose", "kind", "unit", "periods"],
    "additionalProperties": False,
}


@routes.post("/chargers/{charger_id}/charging-profiles")
@requires("charging:write")
@operation(
    "Store a charging profile for a charger and send it if the charger is connected "
    "(sent again after its boot or a reconnect that lost it); delivery: pending (not sent "
    "yet), sent (no clear answer), accepted, rejected",
    request=PROFILE,
    responses={
        201: "Stored; the charger's answer is in delivery",
        404: "Unknown charger",
        422: "Invalid, or beyond what the charger said it can hold",
    },
    tags=TAGS,
)
async def create_profile(request: web.Request) -> web.Response:
    body = await read_json(request, PROFILE)
    charger_id = request.match_info["charger_id"]
    profile = profile_from_dict(body, profile_id=body.get("profile_id") or 0)
    principal = request.get(PRINCIPAL)
    stored = await request.app[PROFILES].create(
        charger_id, profile, requested_by=principal.subject if principal else None
    )
    return web.json_response(
        stored_json(stored),
        status=201,
        headers={"Location": f"{request.url.path}/{stored.profile.profile_id}"},
    )


@routes.get("/chargers/{charger_id}/charging-profiles")
@requires("charging:read")
@operation(
    "A charger's stored charging profiles, with their delivery state",
    responses={200: "OK", 404: "Unknown charger"},
    tags=TAGS,
)
async def list_profiles(request: web.Request) -> web.Response:
    items = await request.app[PROFILES].of_charger(request.match_info["charger_id"])
    return web.json_response({"items": [stored_json(s) for s in items]})


@routes.delete("/chargers/{charger_id}/charging-profiles/{profile_id}")
@requires("charging:write")
@operation(
    "Remove a stored profile: cleared on the charger if it is connected (ClearChargingProfile)",
    responses={
        200: "Removed; cleared tells what the charger answered (null: it was not connected)",
        404: "Unknown charger or profile",
        422: "Bad profile id",
    },
    tags=TAGS,
)
async def delete_profile(request: web.Request) -> web.Response:
    profile_id = _profile_id(request.match_info["profile_id"])
    principal = request.get(PRINCIPAL)
    outcome = await request.app[PROFILES].delete(
        request.match_info["charger_id"],
        profile_id,
        requested_by=principal.subject if principal else None,
    )
    cleared = None
    if outcome is not None:
        cleared = {
            "status": str(outcome.status),
            "response": outcome.response,
            "command_id": outcome.command_id,
        }
    return web.json_response({"profile_id": profile_id, "removed": True, "cleared": cleared})


@routes.get("/chargers/{charger_id}/composite-schedule")
@requires("charging:read")
@operation(
    "The schedule the charger will follow (GetCompositeSchedule), version-free",
    responses={
        200: "{evse_id, start, unit, periods: [{start_period, limit, number_phases}]}",
        404: "Unknown charger",
        409: "The charger is not connected, or it rejected the request",
        422: "Bad evse, duration or unit",
        502: "The charger answered with an error",
        504: "No answer in time",
    },
    tags=TAGS,
    query={
        "evse": int_param(0, 64),
        "duration": int_param(1, DURATION_MAX),
        "unit": choice_param(tuple(u.value for u in RateUnit)),
    },
)
async def composite_schedule(request: web.Request) -> web.Response:
    charger_id = request.match_info["charger_id"]
    evse = query_int(request, "evse", 0, low=0, high=64)
    duration = query_int(request, "duration", 3600, low=1, high=DURATION_MAX)
    unit = query_choice(request, "unit", tuple(u.value for u in RateUnit))
    version = await request.app[WHEREABOUTS].version_of(charger_id)
    if version is None or version not in VERSIONS:
        await request.app[PROFILES].of_charger(charger_id)  # 404 for an unknown charger
        raise ChargerOffline("the charger is not connected to csms", charger_id=charger_id)
    principal = request.get(PRINCIPAL)
    outcome = await request.app[GATEWAY].get_composite_schedule(
        charger_id,
        version,
        evse_id=evse,
        duration=duration,
        unit=RateUnit(unit) if unit else None,
        requested_by=principal.subject if principal else None,
    )
    if outcome.status is not CommandStatus.ANSWERED:
        return command_answer(outcome)
    schedule = request.app[GATEWAY].composite_schedule(version, outcome, evse)
    if schedule is None:
        raise _Refused(
            f"the charger answered {(outcome.response or {}).get('status')}",
            command_id=outcome.command_id,
            response=outcome.response,
        )
    return web.json_response({**schedule_json(schedule), "command_id": outcome.command_id})


class _Refused(Conflict):
    kind = "command-refused"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.extra = extra


class ChargerOffline(_Refused):
    kind = "charger-offline"


def _profile_id(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) <= PROFILE_ID_MAX:
        raise Invalid(f"profile_id must be a whole number from 1 to {PROFILE_ID_MAX}")
    return int(raw)


def stored_json(stored: StoredProfile) -> dict[str, Any]:
    return {
        **profile_as_dict(stored.profile),
        "delivery": stored.delivery.value,
        "detail": stored.detail,
        "updated_at": isoformat_utc(stored.updated_at),
    }


def schedule_json(schedule: CompositeSchedule) -> dict[str, Any]:
    return {
        "evse_id": schedule.evse_id,
        "start": isoformat_utc(schedule.start) if schedule.start else None,
        "unit": schedule.unit.value,
        "periods": [
            {"start_period": p.start_period, "limit": p.limit, "number_phases": p.number_phases}
            for p in schedule.periods
        ],
    }
