"""Charging sessions over REST: one by id, or a filtered page."""

from __future__ import annotations

from collections.abc import Container, Sequence
from datetime import datetime
from typing import Any

from aiohttp import web

from chargepark.auth import PRINCIPAL, requires
from chargepark.clock import NotATime, isoformat_utc, parse_utc
from chargepark.errors import Invalid
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from chargepark.http.query import TEXT_PARAM, TIME_PARAM, choice_param, int_param, query_int
from csms.api.keys import REMOTE, SESSIONS, WHEREABOUTS
from csms.domain.sessions import Session
from csms.ports.gateway import CommandStatus
from csms.ports.sessions import SessionFilter
from csms.services.remote import RemoteStart

routes = web.RouteTableDef()
TAGS = ["sessions"]
STATUSES = ("pending", "active", "closed", "failed")
REMOTE_START = {
    "type": "object",
    "properties": {
        "charger_id": {"type": "string", "minLength": 1, "maxLength": 48},
        "evse_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 64},
        # A 1.6 connectorId n is EVSE n: either name may be used.
        "connector_id": {"type": ["integer", "null"], "minimum": 1, "maximum": 64},
        "id_token": {"type": "string", "minLength": 1, "maxLength": 36},
    },
    "required": ["charger_id", "id_token"],
    "additionalProperties": False,
}


@routes.post("/sessions")
@requires("charging:write")
@operation(
    "Remote start: the session exists as pending at once and is linked when the charger starts "
    "the transaction",
    request=REMOTE_START,
    responses={
        201: "The charger accepted; the session is pending",
        202: "The charger did not answer in time; the session stays pending",
        404: "Unknown charger",
        409: "The charger rejected the start or is not connected",
        422: "Invalid",
        502: "The charger answered with an error",
    },
    tags=TAGS,
)
async def remote_start(request: web.Request) -> web.Response:
    body = await read_json(request, REMOTE_START)
    evse = body.get("evse_id") or body.get("connector_id")
    principal = request.get(PRINCIPAL)
    session, outcome = await request.app[REMOTE].start(
        RemoteStart(
            body["charger_id"],
            body["id_token"],
            evse,
            principal.subject if principal else None,
        )
    )
    status = 202 if outcome.status is CommandStatus.TIMEOUT else 201
    return web.json_response(
        {
            "session_id": session.id,
            **session_json(session, await _connected(request, [session])),
            "command_id": outcome.command_id,
        },
        status=status,
        headers={"Location": f"{request.url.path}/{session.id}"},
    )


@routes.patch("/sessions/{session_id}/stop")
@requires("charging:write")
@operation(
    "Remote stop: waits (bounded) for the charger to end the transaction",
    responses={
        200: "Ended (or had ended): kwh, duration_sec and the rest of the session",
        202: "The charger accepted but has not ended the transaction yet: status stopping",
        404: "Unknown session",
        409: "The charger rejected the stop or is not connected",
        502: "The charger answered with an error",
        504: "The charger did not answer",
    },
    tags=TAGS,
)
async def remote_stop(request: web.Request) -> web.Response:
    principal = request.get(PRINCIPAL)
    result = await request.app[REMOTE].stop(
        request.match_info["session_id"], principal.subject if principal else None
    )
    body = session_json(result.session, await _connected(request, [result.session]))
    if not result.finished:
        return web.json_response({**body, "status": "stopping"}, status=202)
    return web.json_response(body)


@routes.get("/sessions/{session_id}")
@requires("charging:read")
@operation("A charging session", responses={200: "OK", 404: "Unknown session"}, tags=TAGS)
async def get_session(request: web.Request) -> web.Response:
    session = await request.app[SESSIONS].get(request.match_info["session_id"])
    return web.json_response(session_json(session, await _connected(request, [session])))


@routes.get("/sessions")
@requires("charging:read")
@operation(
    "Sessions, newest first; filter by charger_id, status (pending|active|closed|failed), from, to",
    responses={200: "One page", 422: "Bad filter"},
    tags=TAGS,
    query={
        "charger_id": TEXT_PARAM,
        "status": choice_param(STATUSES),
        "from": TIME_PARAM,
        "to": TIME_PARAM,
        "limit": int_param(1, 200),
        "offset": int_param(0),
    },
)
async def list_sessions(request: web.Request) -> web.Response:
    q = request.query
    status = q.get("status")
    if status not in (None, *STATUSES):
        raise Invalid("status must be one of " + ", ".join(STATUSES))
    page = SessionFilter(
        charger_id=q.get("charger_id"),
        status=status,
        started_from=_time(q.get("from"), "from"),
        started_to=_time(q.get("to"), "to"),
        limit=query_int(request, "limit", 50, low=1, high=200),
        offset=query_int(request, "offset", 0),
    )
    items, total = await request.app[SESSIONS].page(page)
    connected = await _connected(request, items)
    return web.json_response(
        {
            "items": [session_json(s, connected) for s in items],
            "total": total,
            "limit": page.limit,
            "offset": page.offset,
        }
    )


async def _connected(request: web.Request, sessions: Sequence[Session]) -> Container[str]:
    """The chargers of `sessions` connected to any csms node."""
    return await request.app[WHEREABOUTS].connected(s.charger_id for s in sessions)


def session_json(s: Session, connected: Container[str]) -> dict[str, Any]:
    ended = s.ended_at
    return {
        "id": s.id,
        "charger_id": s.charger_id,
        "transaction_id": s.transaction_id,
        "evse_id": s.evse_id,
        "connector_id": s.connector_id,
        "status": s.status,
        # A charger that dropped mid-session keeps its session open until it reports the end:
        # shown, so nobody mistakes a silent charger for one that is charging.
        "charger_connected": s.charger_id in connected,
        "id_token": s.id_token,
        "auth_status": s.auth_status,
        "customer_id": s.customer_id,
        "regnum": s.regnum,
        "tariff_id": s.tariff_id,
        "requested_at": isoformat_utc(s.requested_at) if s.requested_at else None,
        "started_at": isoformat_utc(s.started_at) if s.status != "pending" else None,
        "ended_at": isoformat_utc(ended) if ended else None,
        "meter_start_wh": s.meter_start_wh,
        "meter_stop_wh": s.meter_stop_wh,
        "energy_wh": s.energy_wh,
        "kwh": str(s.kwh) if s.kwh is not None else None,
        "energy_source": s.energy_source,
        "meter_anomalies": s.meter_anomalies,
        "duration_sec": int((ended - s.started_at).total_seconds()) if ended else None,
        "stop_reason": s.stop_reason,
        "offline_events": s.offline_events,
        "missing_seq_nos": s.missing_seq_nos,  # the first SEQ_NOS_LISTED
        "missing_seq_ranges": [list(r) for r in s.missing_seq_ranges],  # [first, last], oldest
    }


def _time(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_utc(raw)
    except NotATime:
        raise Invalid(f"{name} must be an ISO-8601 time with its offset") from None
