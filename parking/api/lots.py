"""Lots over REST: create, list, read, change (rename, slots in and out), delete when empty."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chargepark.auth import requires
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from parking.api.common import READ, WRITE, iso, lot_id, queries, routes, service
from parking.api.schemas import LOT_CHANGES, NEW_LOT
from parking.domain import Lot, Slot, VehicleKind
from parking.queries import Capacity
from parking.service import ChangeLot, CreateLot

TAGS = ["lots"]
LOT_ROUTE = "parking-lot"


@routes.post("/lots")
@requires(WRITE)
@operation(
    "Create a lot with its levels (lowest first) and slots",
    request=NEW_LOT,
    responses={
        201: "Created",
        409: "Id taken, or a charger connector is a bay already",
        422: "Invalid",
    },
    tags=TAGS,
)
async def create_lot(request: web.Request) -> web.Response:
    body = await read_json(request, NEW_LOT)
    new = [
        slot_of(s, level["level"], rank)
        for rank, level in enumerate(body["levels"])
        for s in level["slots"]
    ]
    cmd = CreateLot(body["id"], body["name"], new, body.get("ev_bays_for_ice", False))
    lot = await service(request).create_lot(cmd)
    location = request.app.router[LOT_ROUTE].url_for(lot_id=lot.id)
    capacity = Capacity(len(lot.slots), sum(s.in_service for s in lot.slots.values()), 0)
    return web.json_response(
        lot_json(lot, capacity), status=201, headers={"Location": str(location)}
    )


@routes.get("/lots")
@requires(READ)
@operation("Every lot with its occupancy now", tags=TAGS)
async def list_lots(request: web.Request) -> web.Response:
    found = await queries(request).lots()
    items = [
        {
            "id": row["id"],
            "name": row["name"],
            "ev_bays_for_ice": row["ev_bays_for_ice"],
            "capacity": capacity_json(capacity),
        }
        for row, capacity in found
    ]
    return web.json_response({"items": items})


@routes.get("/lots/{lot_id}", name=LOT_ROUTE)
@requires(READ)
@operation(
    "A lot: levels, slots and occupancy now", responses={200: "OK", 404: "No such lot"}, tags=TAGS
)
async def get_lot(request: web.Request) -> web.Response:
    lot = await service(request).get_lot(lot_id(request))
    return web.json_response(lot_json(lot, await queries(request).capacity(lot.id)))


@routes.patch("/lots/{lot_id}")
@requires(WRITE)
@operation(
    "Change a lot: rename, EV bays for ICE vehicles or not, add or remove slots, put slots out "
    "of service (a vehicle parked there stays until it leaves) or back",
    request=LOT_CHANGES,
    responses={
        200: "Changed",
        404: "No such lot or slot",
        409: "An occupied slot cannot be removed; a charger connector is a bay already",
        422: "Invalid",
    },
    tags=TAGS,
)
async def change_lot(request: web.Request) -> web.Response:
    body = await read_json(request, LOT_CHANGES)
    cmd = ChangeLot(
        lot_id=lot_id(request),
        name=body.get("name"),
        ev_bays_for_ice=body.get("ev_bays_for_ice"),
        add_slots=[slot_of(s, s["level"], 0) for s in body.get("add_slots", [])],
        remove_slots=body.get("remove_slots", []),
        out_of_service=body.get("out_of_service", []),
        in_service=body.get("in_service", []),
    )
    lot = await service(request).change_lot(cmd)
    return web.json_response(lot_json(lot, await queries(request).capacity(lot.id)))


@routes.delete("/lots/{lot_id}")
@requires(WRITE)
@operation(
    "Delete an empty lot (its history stays)",
    responses={204: "Deleted", 404: "No such lot", 409: "Vehicles are parked in it"},
    tags=TAGS,
)
async def delete_lot(request: web.Request) -> web.Response:
    await service(request).delete_lot(lot_id(request))
    return web.Response(status=204)


def slot_of(body: dict[str, Any], level: str, rank: int) -> Slot:
    return Slot(
        slot_ui=body["slot_ui"],
        level=level,
        level_rank=rank,
        fits=VehicleKind(body["fits"]),
        ev_bay=body.get("ev_bay", False),
        charger_id=body.get("charger_id"),
        connector_id=body.get("connector_id"),
        in_service=body.get("in_service", True),
    )


def capacity_json(capacity: Capacity) -> dict[str, Any]:
    return {
        "total": capacity.total,
        "in_service": capacity.in_service,
        "occupied": capacity.occupied,
        "free": capacity.free,
        "percent": capacity.percent,
    }


def lot_json(lot: Lot, capacity: Capacity) -> dict[str, Any]:
    levels: dict[str, list[dict[str, Any]]] = {name: [] for name in lot.levels}
    for slot in sorted(lot.slots.values(), key=lambda s: s.slot_ui):
        levels[slot.level].append(
            {
                "slot_ui": slot.slot_ui,
                "fits": slot.fits.value,
                "ev_bay": slot.ev_bay,
                "charger_id": slot.charger_id,
                "connector_id": slot.connector_id,
                "in_service": slot.in_service,
            }
        )
    return {
        "id": lot.id,
        "name": lot.name,
        "ev_bays_for_ice": lot.ev_bays_for_ice,
        "levels": [{"level": name, "slots": s} for name, s in levels.items()],
        "capacity": capacity_json(capacity),
        "created_at": iso(lot.created_at),
        "updated_at": iso(lot.updated_at),
    }
