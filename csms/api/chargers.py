"""The charger registry over REST: register, read (with live state), change, remove."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chargepark.auth import requires
from chargepark.clock import isoformat_utc
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from chargepark.http.query import int_param, query_int
from csms.api.keys import PRESENCE, SERVICE, SESSIONS, WHEREABOUTS
from csms.domain.chargers import Charger
from csms.domain.sessions import Session
from csms.services.chargers import ChangeCharger, ChargingService, RegisterCharger

routes = web.RouteTableDef()
TAGS = ["chargers"]
READ, WRITE = "charging:read", "charging:write"

_OPTIONAL_TEXT = {"type": ["string", "null"], "minLength": 1, "maxLength": 50}
_PASSWORD = {"type": ["string", "null"], "minLength": 16, "maxLength": 40}
NEW_CHARGER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 48},
        "password": _PASSWORD,
        "vendor": _OPTIONAL_TEXT,
        "model": _OPTIONAL_TEXT,
        "tariff_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 64},
        "registration": {"enum": ["Accepted", "Pending", "Rejected"]},
    },
    "required": ["id"],
    "additionalProperties": False,
}
CHARGER_CHANGES = {
    "type": "object",
    "properties": {k: v for k, v in NEW_CHARGER["properties"].items() if k != "id"},
    "minProperties": 1,
    "additionalProperties": False,
}


def _service(request: web.Request) -> ChargingService:
    return request.app[SERVICE]


@routes.post("/chargers")
@requires(WRITE)
@operation(
    "Register a charger",
    request=NEW_CHARGER,
    responses={201: "Registered", 409: "Id taken", 422: "Invalid"},
    tags=TAGS,
)
async def register_charger(request: web.Request) -> web.Response:
    body = await read_json(request, NEW_CHARGER)
    charger = await _service(request).register(RegisterCharger(**body))
    return web.json_response(
        _view(request, charger, await _connected(request, [charger])),
        status=201,
        headers={"Location": f"{request.path}/{charger.id}"},
    )


@routes.get("/chargers")
@requires(READ)
@operation(
    "Chargers, by id",
    responses={200: "One page", 422: "Bad limit or offset"},
    tags=TAGS,
    query={"limit": int_param(1, 200), "offset": int_param(0)},
)
async def list_chargers(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 50, low=1, high=200)
    offset = query_int(request, "offset", 0)
    items, total = await _service(request).page(limit, offset)
    ongoing = await request.app[SESSIONS].ongoing([c.id for c in items])
    connected = await _connected(request, items)
    return web.json_response(
        {
            "items": [_view(request, c, connected, ongoing.get(c.id, [])) for c in items],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


@routes.get("/chargers/{charger_id}")
@requires(READ)
@operation(
    "A charger's state: connection, OCPP version, boot data, connectors",
    responses={200: "OK", 404: "Unknown charger"},
    tags=TAGS,
)
async def get_charger(request: web.Request) -> web.Response:
    charger = await _service(request).get(request.match_info["charger_id"])
    ongoing = await request.app[SESSIONS].ongoing([charger.id])
    connected = await _connected(request, [charger])
    return web.json_response(_view(request, charger, connected, ongoing.get(charger.id, [])))


@routes.patch("/chargers/{charger_id}")
@requires(WRITE)
@operation(
    "Change a charger's password, expected vendor/model, tariff or registration",
    request=CHARGER_CHANGES,
    responses={200: "Changed", 404: "Unknown charger"},
    tags=TAGS,
)
async def change_charger(request: web.Request) -> web.Response:
    body = await read_json(request, CHARGER_CHANGES)
    charger = await _service(request).change(ChangeCharger(request.match_info["charger_id"], body))
    return web.json_response(_view(request, charger, await _connected(request, [charger])))


@routes.delete("/chargers/{charger_id}")
@requires(WRITE)
@operation("Remove a charger", responses={204: "Removed", 404: "Unknown charger"}, tags=TAGS)
async def remove_charger(request: web.Request) -> web.Response:
    await _service(request).remove(request.match_info["charger_id"])
    return web.Response(status=204)


async def _connected(request: web.Request, chargers: list[Charger]) -> dict[str, str]:
    """charger -> OCPP version of its live socket, on any csms node."""
    return await request.app[WHEREABOUTS].connected(c.id for c in chargers)


def _view(
    request: web.Request,
    charger: Charger,
    connected: dict[str, str],
    ongoing: list[Session] | None = None,
) -> dict[str, Any]:
    # Last seen: this node's own reading when it holds the socket; else what the holding node
    # flushed (every few seconds).
    live = request.app[PRESENCE].get(charger.id)
    last_seen = live.last_seen_at if live else charger.last_seen_at
    return {
        "id": charger.id,
        "registration": str(charger.registration),
        "connected": charger.id in connected,
        "ocpp_version": connected.get(charger.id, charger.ocpp_version),
        "vendor": charger.vendor,
        "model": charger.model,
        "serial_number": charger.serial_number,
        "firmware_version": charger.firmware_version,
        "expected_vendor": charger.expected_vendor,
        "expected_model": charger.expected_model,
        "tariff_id": charger.tariff_id,
        "has_password": charger.password_hash is not None,
        "last_boot_at": _ts(charger.last_boot_at),
        "last_seen_at": _ts(last_seen),
        "connectors": [
            {
                "evse_id": c.evse_id,
                "connector_id": c.connector_id,
                "status": c.status,
                "error_code": c.error_code,
                "info": c.info,
                "status_at": _ts(c.status_at),
            }
            for c in sorted(charger.connectors.values(), key=lambda c: (c.evse_id, c.connector_id))
        ],
        # Pending remote starts and active transactions, per EVSE; `active_session` is the
        # first active one, for a single-connector charger's simple view.
        "sessions": [_brief(s) for s in ongoing or ()],
        "active_session": next((_brief(s) for s in ongoing or () if s.status == "active"), None),
    }


def _brief(s: Session) -> dict[str, Any]:
    return {
        "id": s.id,
        "status": s.status,
        "evse_id": s.evse_id,
        "connector_id": s.connector_id,
        "transaction_id": s.transaction_id,
        "id_token": s.id_token,
        "regnum": s.regnum,
        "started_at": _ts(s.started_at) if s.status == "active" else None,
    }


def _ts(value: Any) -> str | None:
    return isoformat_utc(value) if value is not None else None
