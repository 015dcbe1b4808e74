"""Park and leave (the gate's or attendant's calls), and who is in which slot now."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chargepark.auth import requires
from chargepark.errors import Invalid
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from parking.api.common import (
    READ,
    WRITE,
    iso,
    lot_id,
    operators_only,
    parse_time,
    queries,
    query_choice,
    routes,
    service,
)
from parking.api.schemas import LEAVE, PARK
from parking.domain import Fuel, VehicleKind
from parking.queries import StatusFilter
from parking.service import LeaveLot, ParkVehicle

TAGS = ["occupancy"]


@routes.post("/lots/{lot_id}/park")
@requires(WRITE)
@operation(
    "Park a vehicle in the nearest free slot that fits it (or the attendant's `slot_ui`); "
    "`ts` is when the gate saw it (default now)",
    request=PARK,
    responses={
        200: "Parked: {ok, slot_ui, level, message}",
        404: "No such lot or slot",
        409: "Lot full, vehicle already parked, slot unavailable, or ts before its last event",
        422: "Invalid regnum, kind, fuel or ts",
    },
    tags=TAGS,
)
async def park(request: web.Request) -> web.Response:
    body = await read_json(request, PARK)
    cmd = ParkVehicle(
        lot_id=lot_id(request),
        regnum=body["regnum"],
        kind=VehicleKind(body["kind"]),
        fuel=Fuel(body["fuel"]),
        ts=parse_time(body["ts"], "ts") if "ts" in body else None,
        slot_ui=body.get("slot_ui"),
        departure_at=parse_time(body["departure_at"], "departure_at")
        if "departure_at" in body
        else None,
    )
    stay = await service(request).park(cmd)
    slot = stay.slot
    return web.json_response(
        {
            "ok": True,
            "slot_ui": slot.slot_ui,
            "level": slot.level,
            "message": f"{stay.vehicle.regnum} parked in slot {slot.slot_ui} on level {slot.level}",
        }
    )


@routes.post("/lots/{lot_id}/leave")
@requires(WRITE)
@operation(
    "A vehicle leaves: named by `regnum` or by its `slot_ui`; `ts` as for park",
    request=LEAVE,
    responses={
        200: "Left: {ok, message, slot_ui, duration_sec}",
        404: "No such lot, or no such vehicle parked",
        409: "ts before the vehicle's arrival",
        422: "Invalid",
    },
    tags=TAGS,
)
async def leave(request: web.Request) -> web.Response:
    body = await read_json(request, LEAVE)
    if "regnum" not in body and "slot_ui" not in body:
        raise Invalid("name the vehicle: regnum or slot_ui")
    cmd = LeaveLot(
        lot_id(request),
        regnum=body.get("regnum"),
        slot_ui=body.get("slot_ui"),
        ts=parse_time(body["ts"], "ts") if "ts" in body else None,
    )
    left = await service(request).leave(cmd)
    slot_ui = left.stay.slot.slot_ui
    return web.json_response(
        {
            "ok": True,
            "message": f"{left.stay.vehicle.regnum} left slot {slot_ui} "
            f"after {left.duration_sec} s",
            "slot_ui": slot_ui,
            "duration_sec": left.duration_sec,
        }
    )


@routes.get("/lots/{lot_id}/status")
@requires(READ)
@operation(
    "Every slot and who is in it: `ice` the regular slots, `ev` the EV bays. Filters: level, "
    "kind (the slot's), state=free|occupied",
    responses={200: "OK", 403: "A customer's token", 404: "No such lot", 422: "Bad filter"},
    tags=TAGS,
)
async def status(request: web.Request) -> web.Response:
    operators_only(request)
    rows = await queries(request).status(lot_id(request), status_filter(request))
    return web.json_response(
        {
            "lot_id": lot_id(request),
            "ice": [status_json(r) for r in rows if not r["ev_bay"]],
            "ev": [status_json(r) for r in rows if r["ev_bay"]],
        }
    )


@routes.get("/lots/{lot_id}/status/ev")
@requires(READ)
@operation(
    "The EV bays: who is parked, and the bay's charger as csms last reported it (connector "
    "status, active session, kWh so far). Filters as for status",
    responses={200: "OK", 403: "A customer's token", 404: "No such lot", 422: "Bad filter"},
    tags=TAGS,
)
async def ev_status(request: web.Request) -> web.Response:
    operators_only(request)
    where = status_filter(request, ev_only=True)
    rows = await queries(request).status(lot_id(request), where)
    return web.json_response({"lot_id": lot_id(request), "ev": [status_json(r) for r in rows]})


def status_filter(request: web.Request, *, ev_only: bool = False) -> StatusFilter:
    kind = query_choice(request, "kind", tuple(k.value for k in VehicleKind))
    return StatusFilter(
        level=request.query.get("level"),
        kind=kind,
        state=query_choice(request, "state", ("free", "occupied")),
        ev_only=ev_only,
    )


def status_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) if k in ("since", "status_at") else v for k, v in row.items()}
