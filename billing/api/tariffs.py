"""Tariffs over REST: list, read, create, and change (a new version; versions are never edited)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from billing.api.common import READ, WRITE, iso, parse_time, routes, service
from billing.api.schemas import NEW_TARIFF, TARIFF_VERSION
from billing.domain.tariff import Tariff
from billing.services.tariffs import TariffFields
from chargepark.auth import requires
from chargepark.http.body import read_json
from chargepark.http.openapi import operation

TAGS = ["tariffs"]
TARIFF_ROUTE = "billing-tariff"


@routes.get("/tariffs")
@requires(READ)
@operation("Every tariff in its newest version", tags=TAGS)
async def list_tariffs(request: web.Request) -> web.Response:
    found = await service(request).tariffs()
    return web.json_response({"items": [tariff_json(v[-1]) for _, v in sorted(found.items())]})


@routes.post("/tariffs")
@requires(WRITE)
@operation(
    "Create a tariff (version 1)",
    request=NEW_TARIFF,
    responses={201: "Created", 409: "Id taken, or another currency", 422: "Invalid"},
    tags=TAGS,
)
async def create_tariff(request: web.Request) -> web.Response:
    body = await read_json(request, NEW_TARIFF)
    tariff = await service(request).create_tariff(body["id"], fields_of(body))
    location = request.app.router[TARIFF_ROUTE].url_for(tariff_id=tariff.id)
    return web.json_response(tariff_json(tariff), status=201, headers={"Location": str(location)})


@routes.get("/tariffs/{tariff_id}", name=TARIFF_ROUTE)
@requires(READ)
@operation(
    "A tariff: its newest version, and every version",
    responses={200: "OK", 404: "No such tariff"},
    tags=TAGS,
)
async def get_tariff(request: web.Request) -> web.Response:
    versions = await service(request).tariff(request.match_info["tariff_id"])
    return web.json_response(
        {**tariff_json(versions[-1]), "versions": [tariff_json(v) for v in versions]}
    )


@routes.put("/tariffs/{tariff_id}")
@requires(WRITE)
@operation(
    "Change a tariff: a new version, valid from now or from a later valid_from; what the "
    "versions before priced stays as it was",
    request=TARIFF_VERSION,
    responses={
        200: "The new version",
        404: "No such tariff",
        409: "Another currency",
        422: "Invalid",
    },
    tags=TAGS,
)
async def change_tariff(request: web.Request) -> web.Response:
    body = await read_json(request, TARIFF_VERSION)
    tariff = await service(request).change_tariff(request.match_info["tariff_id"], fields_of(body))
    return web.json_response(tariff_json(tariff))


def fields_of(body: dict[str, Any]) -> TariffFields:
    valid_from = body.get("valid_from")
    return TariffFields(
        name=body.get("name", ""),
        currency=body["currency"],
        energy_minor_per_kwh=Decimal(str(body["energy_minor_per_kwh"])),
        session_fee_minor=body["session_fee_minor"],
        parking_minor_per_period=body["parking_minor_per_period"],
        parking_period_minutes=body["parking_period_minutes"],
        parking_grace_minutes=body.get("parking_grace_minutes", 0),
        parking_daily_cap_minor=body.get("parking_daily_cap_minor"),
        idle_minor_per_minute=body.get("idle_minor_per_minute", 0),
        idle_after_minutes=body.get("idle_after_minutes", 0),
        tax_percent=Decimal(str(body["tax_percent"])),
        valid_from=None if valid_from is None else parse_time(valid_from, "valid_from"),
    )


def tariff_json(t: Tariff) -> dict[str, Any]:
    return {
        "id": t.id,
        "version": t.version,
        "name": t.name,
        "currency": t.currency,
        "energy_minor_per_kwh": str(t.energy_minor_per_kwh),
        "session_fee_minor": t.session_fee_minor,
        "parking_minor_per_period": t.parking_minor_per_period,
        "parking_period_minutes": t.parking_period_minutes,
        "parking_grace_minutes": t.parking_grace_minutes,
        "parking_daily_cap_minor": t.parking_daily_cap_minor,
        "idle_minor_per_minute": t.idle_minor_per_minute,
        "idle_after_minutes": t.idle_after_minutes,
        "tax_percent": str(t.tax_percent),
        "valid_from": iso(t.valid_from),
    }
