"""Finders: where is a vehicle, free slots for a kind of vehicle (in a lot, across lots), and
the vehicles parked in a lot by kind and fuel. Pages of `limit` rows after `after`, the key
the previous page's `next_after` gave."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chargepark.auth import requires
from chargepark.errors import NotFound
from chargepark.http.openapi import operation
from chargepark.http.query import query_int
from parking.api.common import (
    READ,
    iso,
    lot_id,
    operators_only,
    query_choice,
    routes,
)
from parking.api.schemas import REGNUM
from parking.domain import Fuel, VehicleKind, normalize_regnum
from parking.finders import FreeFilter, ParkingFinders

TAGS = ["finders"]
FINDERS = web.AppKey("parking_finders", ParkingFinders)
MAX_PAGE = 1000


def finders(request: web.Request) -> ParkingFinders:
    return request.app[FINDERS]


@routes.get("/vehicles/{regnum}")
@requires(READ)
@operation(
    "Where a vehicle is parked, in any lot: lot, level, slot_ui and since",
    responses={200: "OK", 403: "A customer's token", 404: "Not parked", 422: "Bad regnum"},
    tags=TAGS,
    parameters={"regnum": REGNUM},
)
async def where_is(request: web.Request) -> web.Response:
    operators_only(request)
    regnum = normalize_regnum(request.match_info["regnum"])
    found = await finders(request).vehicle(regnum)
    if found is None:
        raise NotFound(f"{regnum} is not parked in any lot")
    return web.json_response({**found, "since": iso(found["since"])})


@routes.get("/lots/{lot_id}/free")
@requires(READ)
@operation(
    "The free slots a vehicle of `kind` and `fuel` may take now (the allocation's rules), "
    "by slot_ui; filter by level",
    responses={200: "OK", 404: "No such lot", 422: "Bad filter"},
    tags=TAGS,
)
async def free_in_lot(request: web.Request) -> web.Response:
    limit, after = _page(request)
    rows = await finders(request).free_in_lot(lot_id(request), _free_filter(request), limit, after)
    return _paged(rows, limit, "slot_ui")


@routes.get("/free")
@requires(READ)
@operation(
    "Across lots, by lot id: how many slots a vehicle of `kind` and `fuel` may take now",
    responses={200: "OK", 422: "Bad filter"},
    tags=TAGS,
)
async def free_by_lot(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 100, low=1, high=MAX_PAGE)
    after = request.query.get("after", "")
    rows = await finders(request).free_by_lot(_free_filter(request), limit, after)
    return _paged(rows, limit, "lot_id")


@routes.get("/lots/{lot_id}/vehicles")
@requires(READ)
@operation(
    "The vehicles parked in a lot, by slot_ui; filter by kind and fuel",
    responses={200: "OK", 403: "A customer's token", 404: "No such lot", 422: "Bad filter"},
    tags=TAGS,
)
async def vehicles_in_lot(request: web.Request) -> web.Response:
    operators_only(request)
    limit, after = _page(request)
    kind, fuel = _kind(request), _fuel(request)
    rows = await finders(request).vehicles_in_lot(lot_id(request), kind, fuel, limit, after)
    return _paged([{**r, "since": iso(r["since"])} for r in rows], limit, "slot_ui")


def _page(request: web.Request) -> tuple[int, int]:
    return (
        query_int(request, "limit", 100, low=1, high=MAX_PAGE),
        query_int(request, "after", 0),
    )


def _paged(rows: list[dict[str, Any]], limit: int, key: str) -> web.Response:
    next_after = rows[-1][key] if len(rows) == limit else None
    return web.json_response({"items": rows, "next_after": next_after})


def _kind(request: web.Request) -> VehicleKind | None:
    raw = query_choice(request, "kind", tuple(k.value for k in VehicleKind))
    return None if raw is None else VehicleKind(raw)


def _fuel(request: web.Request) -> Fuel | None:
    raw = query_choice(request, "fuel", tuple(f.value for f in Fuel))
    return None if raw is None else Fuel(raw)


def _free_filter(request: web.Request) -> FreeFilter:
    return FreeFilter(kind=_kind(request), fuel=_fuel(request), level=request.query.get("level"))
