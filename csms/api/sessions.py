"""Charging sessions over REST: one by id, or a filtered page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from chargepark.auth import requires
from chargepark.clock import isoformat_utc
from chargepark.errors import Invalid
from chargepark.http.openapi import operation
from chargepark.http.query import query_int
from csms.session_queries import SessionFilter, SessionQueries
from csms.sessions import Session

routes = web.RouteTableDef()
SESSIONS = web.AppKey("session_queries", SessionQueries)
TAGS = ["sessions"]


@routes.get("/sessions/{session_id}")
@requires("charging:read")
@operation("A charging session", responses={200: "OK", 404: "Unknown session"}, tags=TAGS)
async def get_session(request: web.Request) -> web.Response:
    session = await request.app[SESSIONS].get(request.match_info["session_id"])
    return web.json_response(session_json(session))


@routes.get("/sessions")
@requires("charging:read")
@operation(
    "Sessions, newest first; filter by charger_id, status (active|closed), from, to",
    responses={200: "One page", 422: "Bad filter"},
    tags=TAGS,
)
async def list_sessions(request: web.Request) -> web.Response:
    q = request.query
    status = q.get("status")
    if status not in (None, "active", "closed"):
        raise Invalid("status must be active or closed")
    page = SessionFilter(
        charger_id=q.get("charger_id"),
        status=status,
        started_from=_time(q.get("from"), "from"),
        started_to=_time(q.get("to"), "to"),
        limit=query_int(request, "limit", 50, low=1, high=200),
        offset=query_int(request, "offset", 0),
    )
    items, total = await request.app[SESSIONS].page(page)
    return web.json_response(
        {
            "items": [session_json(s) for s in items],
            "total": total,
            "limit": page.limit,
            "offset": page.offset,
        }
    )


def session_json(s: Session) -> dict[str, Any]:
    ended = s.ended_at
    return {
        "id": s.id,
        "charger_id": s.charger_id,
        "transaction_id": s.transaction_id,
        "evse_id": s.evse_id,
        "connector_id": s.connector_id,
        "status": s.status,
        "id_token": s.id_token,
        "customer_id": s.customer_id,
        "started_at": isoformat_utc(s.started_at),
        "ended_at": isoformat_utc(ended) if ended else None,
        "meter_start_wh": s.meter_start_wh,
        "meter_stop_wh": s.meter_stop_wh,
        "energy_wh": s.energy_wh if s.status == "closed" else None,
        "kwh": f"{s.energy_wh / 1000:.3f}" if s.status == "closed" else None,
        "duration_sec": int((ended - s.started_at).total_seconds()) if ended else None,
        "stop_reason": s.stop_reason,
    }


def _time(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{name} must be an ISO-8601 time with its offset") from None
    if ts.tzinfo is None:
        raise Invalid(f"{name} must be an ISO-8601 time with its offset")
    return ts
