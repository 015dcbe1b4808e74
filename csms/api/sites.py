"""Sites over REST: a lot's electrical connection, its external limit and other load, and what
the energy manager gives each of its chargers. The site id is the lot id."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chargepark.auth import requires
from chargepark.clock import NotATime, isoformat_utc, parse_utc
from chargepark.errors import Invalid
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from csms.domain.energy.site import ExternalLimit, ScheduleEntry, SiteConnection
from csms.ports.energy import Amps3, Site, SiteConfig
from csms.services.energy_admin import SiteAdmin
from csms.services.energy_demands import split_key
from csms.services.energy_events import LoadFigures, rounded

routes = web.RouteTableDef()
SITES = web.AppKey("energy_sites", SiteAdmin)
TAGS = ["sites"]
READ, WRITE = "charging:read", "charging:write"

_AMPS = {"type": "number", "minimum": 0, "maximum": 100000}
_PER_PHASE = {"oneOf": [_AMPS, {"type": "array", "items": _AMPS, "minItems": 1, "maxItems": 3}]}
_KW = {"type": "number", "exclusiveMinimum": 0, "maximum": 100000}
_ONE_LIMIT = {"oneOf": [{"required": ["limit_amps"]}, {"required": ["limit_kw"]}]}
_TIME = {"type": "string", "minLength": 1, "maxLength": 64}
_CHARGER = {"type": "string", "minLength": 1, "maxLength": 48}
# Times and overlaps are the domain's to judge (its messages name the entry and the fault).
_CLOCK = {"type": "string", "maxLength": 16}
_ENTRY = {
    "type": "object",
    "properties": {
        "start": _CLOCK,
        "end": _CLOCK,
        "limit_amps": _PER_PHASE,
        "limit_kw": _KW,
        "weekdays": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 7},  # 1 Monday .. 7 Sunday
            "maxItems": 7,
            "uniqueItems": True,
        },
    },
    "required": ["start", "end"],
    "additionalProperties": False,  # one of limit_amps and limit_kw: checked by `_entry`
}
SITE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "phases": {"enum": [1, 3]},
        "voltage": {"type": "number", "minimum": 100, "maximum": 1000},
        "limit_amps": _PER_PHASE,
        "limit_kw": _KW,
        "margin_amps": _AMPS,
        "schedule": {"type": "array", "items": _ENTRY, "maxItems": 48},
        "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
        "chargers": {"type": "array", "items": _CHARGER, "maxItems": 5000, "uniqueItems": True},
        "charger_max_amps": {"type": "number", "minimum": 6, "maximum": 1000},
        "ratings": {
            "type": "object",
            "propertyNames": {"maxLength": 48},
            "additionalProperties": {"type": "number", "minimum": 6, "maximum": 1000},
        },
        "meter_charger": {"type": ["string", "null"], "minLength": 1, "maxLength": 48},
    },
    "required": ["phases", "voltage"],
    "additionalProperties": False,
    **_ONE_LIMIT,
}
EXTERNAL: dict[str, Any] = {
    "type": "object",
    "properties": {"limit_amps": _PER_PHASE, "limit_kw": _KW, "until": _TIME},
    "required": ["until"],
    "additionalProperties": False,
    **_ONE_LIMIT,
}
OTHER_LOAD: dict[str, Any] = {
    "type": "object",
    "properties": {"amps": _PER_PHASE, "kw": {"type": "number", "minimum": 0}, "at": _TIME},
    "required": ["at"],
    "additionalProperties": False,
    "oneOf": [{"required": ["amps"]}, {"required": ["kw"]}],
}


def _admin(request: web.Request) -> SiteAdmin:
    return request.app[SITES]


@routes.put("/sites/{site_id}")
@requires(WRITE)
@operation(
    "Create or replace a site: a lot's connection (phases, voltage, limit per phase in A or in "
    "kW, margin, schedule by time of day and weekday in the site's time zone, chargers "
    "assigned besides the lot's EV bays)",
    request=SITE,
    responses={
        200: "Replaced",
        201: "Created",
        409: "A charger is in another site",
        422: "Invalid",
    },
    tags=TAGS,
)
async def put_site(request: web.Request) -> web.Response:
    body = await read_json(request, SITE)
    site_id = request.match_info["site_id"]
    if not 0 < len(site_id) <= 128:
        raise Invalid("a site id is 1-128 characters")
    connection = SiteConnection(
        phases=body["phases"],
        voltage=float(body["voltage"]),
        limit_amps=_amps(body.get("limit_amps")),
        limit_kw=body.get("limit_kw"),
        margin_amps=float(body.get("margin_amps", 0.0)),
        schedule=tuple(_entry(i, e) for i, e in enumerate(body.get("schedule", ()))),
        timezone=body.get("timezone", "UTC"),
    )
    config = SiteConfig(
        site_id=site_id,
        connection=connection,
        chargers=tuple(body.get("chargers", ())),
        charger_max_amps=float(body.get("charger_max_amps", 32.0)),
        ratings={k: float(v) for k, v in body.get("ratings", {}).items()},
        meter_charger=body.get("meter_charger"),
    )
    new = await _admin(request).put(config)
    return web.json_response(await _full(request, site_id), status=201 if new else 200)


@routes.get("/sites")
@requires(READ)
@operation("Every site, by id", responses={200: "OK"}, tags=TAGS)
async def list_sites(request: web.Request) -> web.Response:
    now = _admin(request).clock.now()
    items = [_config_view(site, now) for site in await _admin(request).all()]
    return web.json_response({"items": items, "total": len(items)})


@routes.get("/sites/{site_id}")
@requires(READ)
@operation(
    "A site: its chargers, the limit in force now, each charger's and session's allocated "
    "limit and measured current and power",
    responses={200: "OK", 404: "Unknown site"},
    tags=TAGS,
)
async def get_site(request: web.Request) -> web.Response:
    return web.json_response(await _full(request, request.match_info["site_id"]))


@routes.put("/sites/{site_id}/external-limit")
@requires(WRITE)
@operation(
    "Set an external limit (a grid operator's curtailment) until a time",
    request=EXTERNAL,
    responses={200: "Set", 404: "Unknown site", 422: "Invalid"},
    tags=TAGS,
)
async def put_external_limit(request: web.Request) -> web.Response:
    body = await read_json(request, EXTERNAL)
    admin = _admin(request)
    site = await admin.get(request.match_info["site_id"])
    limit = ExternalLimit(
        _time(body["until"], "until"), _amps(body.get("limit_amps")), body.get("limit_kw")
    )
    await admin.set_external(site.config.site_id, limit)
    return web.json_response(await _full(request, site.config.site_id))


@routes.delete("/sites/{site_id}/external-limit")
@requires(WRITE)
@operation("Lift the external limit", responses={204: "Lifted", 404: "Unknown site"}, tags=TAGS)
async def delete_external_limit(request: web.Request) -> web.Response:
    await _admin(request).set_external(request.match_info["site_id"], None)
    return web.Response(status=204)


@routes.put("/sites/{site_id}/other-load")
@requires(WRITE)
@operation(
    "Push the connection's other load (the building), in amps per phase or kW, measured at `at`",
    request=OTHER_LOAD,
    responses={200: "Kept", 404: "Unknown site", 422: "Invalid"},
    tags=TAGS,
)
async def put_other_load(request: web.Request) -> web.Response:
    body = await read_json(request, OTHER_LOAD)
    admin = _admin(request)
    site = await admin.get(request.match_info["site_id"])
    config = site.config
    if "kw" in body:
        amps = _spread(body["kw"] * 1000.0 / (config.voltage * config.phases), config.phases)
    elif isinstance(body["amps"], list):
        amps = _per_phase_load([float(v) for v in body["amps"]], config.phases)
    else:
        amps = _spread(float(body["amps"]), config.phases)
    await admin.set_other_load(config.site_id, amps, _time(body["at"], "at"))
    return web.json_response(await _full(request, config.site_id))


def _per_phase_load(values: list[float], phases: int) -> Amps3:
    """One value for every phase, or one per phase of the site."""
    if len(values) == 1:
        return _spread(values[0], phases)
    if len(values) != phases:
        raise Invalid(f"amps: {len(values)} values for a site of {phases} phase(s)")
    return (values[0], values[1], values[2])


def _spread(amps: float, phases: int) -> Amps3:
    return (amps, amps, amps) if phases == 3 else (amps, 0.0, 0.0)


def _amps(value: Any) -> float | tuple[float, ...] | None:
    """One value for every phase, or one per phase (checked against the site's phases by the
    domain)."""
    if value is None:
        return None
    if isinstance(value, list):
        return tuple(float(v) for v in value)
    return float(value)


def _entry(index: int, entry: dict[str, Any]) -> ScheduleEntry:
    in_kw = "limit_kw" in entry
    if in_kw == ("limit_amps" in entry):
        raise Invalid(f"schedule[{index}] needs exactly one of limit_amps and limit_kw")
    limit = float(entry["limit_kw"]) if in_kw else _amps(entry["limit_amps"])
    assert limit is not None
    weekdays = tuple(day - 1 for day in entry.get("weekdays", ()))  # ISO 1..7 -> 0..6
    return ScheduleEntry(entry["start"], entry["end"], limit, weekdays, in_kw=in_kw)


def _entry_view(entry: ScheduleEntry, site_in_kw: bool) -> dict[str, Any]:
    in_kw = entry.in_kw if entry.in_kw is not None else site_in_kw
    limit = entry.limit if in_kw or not isinstance(entry.limit, tuple) else list(entry.limit)
    view: dict[str, Any] = {"start": entry.start, "end": entry.end}
    view["limit_kw" if in_kw else "limit_amps"] = limit
    view["weekdays"] = [day + 1 for day in entry.weekdays] or list(range(1, 8))
    return view


def _limit_view(value: float | tuple[float, ...] | None, phases: int) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return list(value) if len(value) > 1 else list(_spread(value[0], phases))
    return list(_spread(value, phases))


def _time(text: str, name: str) -> Any:
    try:
        return parse_utc(text)
    except NotATime as exc:
        raise Invalid(f"{name}: {exc}") from None


def _config_view(site: Site, now: Any) -> dict[str, Any]:
    c = site.config
    link = c.connection
    external = site.external
    return {
        "site_id": c.site_id,
        "phases": c.phases,
        "voltage": c.voltage,
        "limit_amps": _limit_view(link.limit_amps, c.phases),
        "limit_kw": link.limit_kw,
        "margin_amps": link.margin_amps,
        "schedule": [_entry_view(e, link.limit_kw is not None) for e in link.schedule],
        "timezone": link.timezone,
        "chargers_assigned": list(c.chargers),
        "charger_max_amps": c.charger_max_amps,
        "ratings": dict(c.ratings),
        "meter_charger": c.meter_charger,
        "external_limit": None
        if external is None or external.until <= now
        else {
            "limit_amps": _limit_view(external.limit_amps, c.phases),
            "limit_kw": external.limit_kw,
            "until": isoformat_utc(external.until),
        },
        "limit_in_force_amps": rounded(site.connection.limit_at(now)),
    }


async def _full(request: web.Request, site_id: str) -> dict[str, Any]:
    admin = _admin(request)
    site, figures = await admin.describe(site_id)
    view = _config_view(site, admin.clock.now())
    view.update(_figures(figures, site))
    return view


def _figures(figures: LoadFigures, site: Site) -> dict[str, Any]:
    chargers: dict[str, dict[str, Any]] = {}
    for demand in figures.demands:
        charger_id, evse_id = split_key(demand.key)
        limit = demand.max_amps if not demand.smart else figures.in_force.get(demand.key)
        entry = chargers.setdefault(
            charger_id, {"charger_id": charger_id, "controlled": demand.smart, "evses": []}
        )
        entry["evses"].append(
            {
                "evse_id": evse_id,
                "session_id": figures.sessions.get(demand.key),
                "active": demand.active,
                "limit_amps": None if limit is None else round(limit, 2),
                "paused": demand.key in figures.paused,
                "drawn_amps": demand.drawn_amps,
                "power_w": figures.power_w.get(demand.key),
            }
        )
    other = site.other_load
    return {
        "available_amps": rounded(figures.capacity),
        "other_load_amps": rounded(figures.other_load),
        "other_load_at": isoformat_utc(other.at) if other else None,
        "chargers": list(chargers.values()),
    }
