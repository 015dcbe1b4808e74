"""Visits over REST: what billing assembled from parking's and csms's events."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from billing.api.common import READ, customer_of, iso, routes, service
from billing.ports import StoredVisit
from chargepark.auth import requires
from chargepark.errors import Forbidden
from chargepark.http.openapi import operation

TAGS = ["visits"]


@routes.get("/visits/{visit_id}")
@requires(READ)
@operation(
    "A visit: its stay, its charging sessions, its state and its invoice",
    responses={200: "OK", 403: "A customer's token", 404: "No such visit"},
    tags=TAGS,
)
async def get_visit(request: web.Request) -> web.Response:
    if customer_of(request) is not None:
        raise Forbidden("a customer's token cannot read visits; read your invoices")
    stored = await service(request).visit(request.match_info["visit_id"])
    return web.json_response(visit_json(stored))


def visit_json(stored: StoredVisit) -> dict[str, Any]:
    stay = stored.visit.stay
    return {
        "id": stored.visit.id,
        "kind": stored.kind,
        "status": stored.status,
        "invoice_id": stored.invoice_id,
        "complete": stored.visit.complete,
        "stay": None
        if stay is None
        else {
            "lot_id": stay.key.lot_id,
            "regnum": stay.key.regnum,
            "arrived_at": iso(stay.key.arrived_at),
            "left_at": iso(stay.left_at),
            "level": stay.level,
            "slot_ui": stay.slot_ui,
            "charger_id": stay.charger_id,
            "connector_id": stay.connector_id,
        },
        "sessions": [
            {
                "session_id": s.session_id,
                "charger_id": s.charger_id,
                "evse_id": s.evse_id,
                "started_at": iso(s.started_at),
                "ended_at": iso(s.ended_at),
                "kwh": None if s.kwh is None else str(s.kwh),
                "closed": s.closed,
                "regnum": s.regnum,
            }
            for s in stored.visit.sessions
        ],
        "changed_at": iso(stored.changed_at),
    }
