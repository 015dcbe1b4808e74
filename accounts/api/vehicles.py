"""A customer's vehicles, and whose vehicle a regnum is (parking and billing ask)."""

from __future__ import annotations

from aiohttp import web

from accounts.api.common import READ, WRITE, caller_customer_id, path_customer_id, routes, service
from accounts.api.schemas import NEW_VEHICLE, REGNUM
from accounts.api.views import owner_json, vehicle_json
from accounts.domain import Fuel, UnknownVehicle, VehicleKind
from accounts.service import LinkVehicle, UnlinkVehicle
from chargepark.auth import requires
from chargepark.http.body import read_json
from chargepark.http.openapi import operation

TAGS = ["vehicles"]


@routes.post("/customers/{customer_id}/vehicles")
@requires(WRITE)
@operation(
    "Link a vehicle to a customer (the regnum is normalized: `ab-123` is `AB123`)",
    request=NEW_VEHICLE,
    responses={
        201: "Linked",
        200: "Already this customer's: kind and fuel updated",
        404: "No such customer",
        409: "Another customer's vehicle, or the customer is deactivated",
        422: "Invalid",
    },
    tags=TAGS,
)
async def link_vehicle(request: web.Request) -> web.Response:
    customer_id = path_customer_id(request)
    body = await read_json(request, NEW_VEHICLE)
    link = LinkVehicle(customer_id, body["regnum"], VehicleKind(body["kind"]), Fuel(body["fuel"]))
    linked = await service(request).link_vehicle(link)
    return web.json_response(vehicle_json(linked.vehicle), status=201 if linked.created else 200)


@routes.get("/customers/{customer_id}/vehicles")
@requires(READ)
@operation("A customer's vehicles", responses={200: "OK", 404: "No such customer"}, tags=TAGS)
async def list_vehicles(request: web.Request) -> web.Response:
    vehicles = await service(request).list_vehicles(path_customer_id(request))
    return web.json_response({"items": [vehicle_json(v) for v in vehicles]})


@routes.delete("/customers/{customer_id}/vehicles/{regnum}")
@requires(WRITE)
@operation(
    "Unlink a vehicle from its customer",
    responses={
        204: "Unlinked",
        404: "Not this customer's vehicle",
        422: "Not a registration number",
    },
    tags=TAGS,
    parameters={"regnum": REGNUM},
)
async def unlink_vehicle(request: web.Request) -> web.Response:
    unlink = UnlinkVehicle(path_customer_id(request), request.match_info["regnum"])
    await service(request).unlink_vehicle(unlink)
    return web.Response(status=204)


@routes.get("/vehicles/{regnum}")
@requires(READ)
@operation(
    "Whose vehicle this is (a customer's token: its own vehicles only)",
    responses={200: "OK", 404: "No such vehicle", 422: "Not a registration number"},
    tags=TAGS,
    parameters={"regnum": REGNUM},
)
async def owner_of_vehicle(request: web.Request) -> web.Response:
    vehicle = await service(request).owner_of_vehicle(request.match_info["regnum"])
    own = caller_customer_id(request)
    if own is not None and vehicle.customer_id != own:
        raise UnknownVehicle(vehicle.regnum)
    return web.json_response(owner_json(vehicle))
