"""Metrics over REST: occupancy now and over time, one charger's figures, the fleet summary;
and lot capacities (the denominators of occupancy percentages)."""

from __future__ import annotations

import math
from datetime import timedelta

from aiohttp import web

from chargepark.auth import requires
from chargepark.errors import Invalid, NotFound
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from chargepark.http.query import TEXT_PARAM, TIME_PARAM, choice_param, int_param, query_int
from ops.api.common import (
    CAPACITIES,
    READ,
    WRITE,
    jsonable,
    queries,
    query_choice,
    query_time,
    routes,
    whole_seconds,
)
from ops.api.schemas import CAPACITY
from ops.domain.capacity import levels_of

TAGS = ["metrics"]
MAX_BUCKETS = 2000
DEFAULT_PERIOD = timedelta(hours=24)


@routes.get("/metrics/occupancy")
@requires(READ)
@operation(
    "Occupancy now per lot (per level, EV bays apart; % where the capacity is known); with "
    "lot_id and from (to default now, bucket seconds default 3600), also over time per bucket: "
    "time-weighted mean and peak vehicles and %, arrivals, departures. Filters for the series: "
    "level, ev=true|false",
    responses={200: "OK", 422: "Bad parameters"},
    tags=TAGS,
    query={
        "lot_id": TEXT_PARAM,
        "from": TIME_PARAM,
        "to": TIME_PARAM,
        "bucket": int_param(1, 31 * 24 * 3600),
        "ev": choice_param(("true", "false")),
        "level": TEXT_PARAM,
    },
)
async def occupancy(request: web.Request) -> web.Response:
    q = queries(request)
    lot_id = request.query.get("lot_id")
    since = query_time(request, "from")
    until = query_time(request, "to")
    body: dict[str, object] = {"at": q.clock.now(), "lots": await q.occupancy_now(lot_id)}
    if since is not None or until is not None or "bucket" in request.query:
        if lot_id is None:
            raise Invalid("a series is per lot: give lot_id")
        until = until or q.clock.now()
        since = whole_seconds(since or until - DEFAULT_PERIOD)
        if until <= since:
            raise Invalid("to must be after from")
        bucket = query_int(request, "bucket", 3600, low=1, high=31 * 24 * 3600)
        if math.ceil((until - since).total_seconds() / bucket) > MAX_BUCKETS:
            raise Invalid(f"at most {MAX_BUCKETS} buckets: widen bucket or narrow the period")
        ev = query_choice(request, "ev", ("true", "false"))
        level = request.query.get("level")
        series = await q.occupancy_series(
            lot_id, since, until, bucket, level=level, ev=None if ev is None else ev == "true"
        )
        body["series"] = {
            "lot_id": lot_id,
            "level": level,
            "ev": ev,
            "from": since,
            "to": until,
            "bucket_sec": bucket,
            **series,
        }
    return web.json_response(jsonable(body))


@routes.get("/metrics/chargers/{charger_id}")
@requires(READ)
@operation(
    "One charger over [from, to) (default the last 24 h): availability and uptime %, seconds in "
    "each status, sessions, kWh delivered, faults with their error codes, last seen",
    responses={200: "OK", 404: "ops has heard nothing of this charger", 422: "Bad times"},
    tags=TAGS,
    query={"from": TIME_PARAM, "to": TIME_PARAM},
)
async def charger(request: web.Request) -> web.Response:
    q = queries(request)
    until = query_time(request, "to") or q.clock.now()
    since = query_time(request, "from") or until - DEFAULT_PERIOD
    if until <= since:
        raise Invalid("to must be after from")
    if until - since > timedelta(days=92):
        raise Invalid("at most 92 days at a time")
    found = await q.charger_metrics(request.match_info["charger_id"], since, until)
    return web.json_response(jsonable(found))


@routes.get("/metrics/sites")
@requires(READ)
@operation(
    "Every site of the energy manager now (its newest load report): power, limit and "
    "allocated kW, drawn, limit, allocated and other load amps per phase (L1-L3), whether it is "
    "over its limit, and each charger's limit and drawn amps",
    tags=TAGS,
)
async def sites(request: web.Request) -> web.Response:
    q = queries(request)
    return web.json_response(jsonable({"at": q.clock.now(), "sites": await q.sites_now()}))


@routes.get("/metrics/sites/{site_id}")
@requires(READ)
@operation(
    "One site now and over [from, to) (default the last 24 h) per bucket (seconds, default "
    "300): reports, power kW (mean, max), limit kW (mean, min), allocated kW (mean, max), drawn "
    "amps per phase (mean, max), limit amps per phase (mean, min); and per charger and EVSE: "
    "drawn amps (mean, max) against its limit (mean, min), the most it drew above the limit, "
    "reports in which it was paused",
    responses={200: "OK", 404: "ops has no load report of this site", 422: "Bad parameters"},
    tags=TAGS,
    query={"from": TIME_PARAM, "to": TIME_PARAM, "bucket": int_param(1, 31 * 24 * 3600)},
)
async def site(request: web.Request) -> web.Response:
    q = queries(request)
    site_id = request.match_info["site_id"]
    until = query_time(request, "to") or q.clock.now()
    since = whole_seconds(query_time(request, "from") or until - DEFAULT_PERIOD)
    if until <= since:
        raise Invalid("to must be after from")
    bucket = query_int(request, "bucket", 300, low=1, high=31 * 24 * 3600)
    if math.ceil((until - since).total_seconds() / bucket) > MAX_BUCKETS:
        raise Invalid(f"at most {MAX_BUCKETS} buckets: widen bucket or narrow the period")
    now = await q.sites_now(site_id)
    if not now:
        raise NotFound(f"ops has no load report of site {site_id!r}")
    series = await q.site_series(site_id, since, until, bucket)
    body = {"site_id": site_id, "now": now[0], "from": since, "to": until, "bucket_sec": bucket}
    return web.json_response(jsonable({**body, **series}))


@routes.get("/metrics/summary")
@requires(READ)
@operation(
    "The fleet now: chargers online, faulted and by status, occupancy, sessions, energy today "
    "(UTC), revenue issued and paid today per currency, open incidents",
    tags=TAGS,
)
async def summary(request: web.Request) -> web.Response:
    return web.json_response(jsonable(await queries(request).summary()))


@routes.put("/lots/{lot_id}/capacity")
@requires(WRITE)
@operation(
    "Set a lot's capacity: per level `slots` (a count, EV bays included, with `ev_bays`) or "
    "parking's lot document as it is (its in-service slots are counted)",
    request=CAPACITY,
    responses={200: "Set: the lot's occupancy now", 422: "Invalid"},
    tags=["lots"],
)
async def put_capacity(request: web.Request) -> web.Response:
    body = await read_json(request, CAPACITY)
    lot_id = request.match_info["lot_id"]
    await request.app[CAPACITIES].replace(lot_id, levels_of(body))
    lots = await queries(request).occupancy_now(lot_id)
    return web.json_response(jsonable(lots[0]))
