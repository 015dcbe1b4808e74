"""CSMS -> charger commands over REST: send one and return the charger's answer; the log."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chargepark.auth import PRINCIPAL, requires
from chargepark.clock import isoformat_utc
from chargepark.errors import NotFound
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from chargepark.http.problem import problem
from chargepark.http.query import int_param, query_int
from csms.ocpp.gateway.catalog import ALL_COMMANDS, COMMANDS
from csms.ports.command_log import CommandLog, CommandRecord
from csms.ports.gateway import (
    DEFAULT_TIMEOUT_SEC,
    MAX_TIMEOUT_SEC,
    ChargerFailed,
    ChargerGateway,
    ChargerSilent,
    CommandOutcome,
    CommandStatus,
)

routes = web.RouteTableDef()
GATEWAY = web.AppKey("charger_gateway", ChargerGateway)
COMMAND_LOG = web.AppKey("command_log", CommandLog)
TAGS = ["commands"]

REQUEST = {
    "type": "object",
    "description": "The OCPP request payload, spelt as the charger's version spells it",
}
# What each ending answers over HTTP, besides 200 for an answer, and besides the charger's
# failure (502, ChargerFailed) and silence (504, ChargerSilent).
_PROBLEMS = {
    CommandStatus.OFFLINE: (409, "charger-offline"),
    CommandStatus.INVALID: (422, "invalid"),
    CommandStatus.UNKNOWN: (404, "not-found"),
}


class UnknownCommand(NotFound):
    def __init__(self, action: str) -> None:
        super().__init__(f"csms sends no command {action!r}")
        self.extra = {"actions": {version: list(actions) for version, actions in COMMANDS.items()}}


@routes.post("/chargers/{charger_id}/commands/{action}")
@requires("charging:write")
@operation(
    "Send an OCPP command to a connected charger and return its answer "
    f"(query timeout: 1-{MAX_TIMEOUT_SEC:g} s, default {DEFAULT_TIMEOUT_SEC:g})",
    request=REQUEST,
    responses={
        200: "The charger's answer",
        404: "Unknown charger or command",
        409: "The charger is not connected",
        422: "Not a valid request of that command in the charger's OCPP version",
        502: "The charger answered with a CALLERROR (its code in ocpp_error_code)",
        504: "No answer in time",
    },
    tags=TAGS,
    query={"timeout": int_param(1, int(MAX_TIMEOUT_SEC))},
)
async def send_command(request: web.Request) -> web.Response:
    action = request.match_info["action"]
    if action not in ALL_COMMANDS:
        raise UnknownCommand(action)
    timeout_sec = query_int(
        request, "timeout", int(DEFAULT_TIMEOUT_SEC), low=1, high=int(MAX_TIMEOUT_SEC)
    )
    # Commands without parameters (ClearCache, GetLocalListVersion) may come without a body.
    payload = await read_json(request, REQUEST) if request.body_exists else {}
    principal = request.get(PRINCIPAL)
    outcome = await request.app[GATEWAY].send(
        request.match_info["charger_id"],
        action,
        payload,
        timeout_sec,
        requested_by=principal.subject if principal else None,
    )
    return command_answer(outcome)


@routes.get("/chargers/{charger_id}/commands")
@requires("charging:read")
@operation(
    "A charger's command log, newest first",
    responses={200: "One page", 404: "Unknown charger", 422: "Bad limit or offset"},
    tags=TAGS,
    query={"limit": int_param(1, 200), "offset": int_param(0)},
)
async def list_commands(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 50, low=1, high=200)
    offset = query_int(request, "offset", 0)
    items, total = await request.app[COMMAND_LOG].page(
        request.match_info["charger_id"], limit, offset
    )
    return web.json_response(
        {"items": [_record(c) for c in items], "total": total, "limit": limit, "offset": offset}
    )


def command_answer(outcome: CommandOutcome) -> web.Response:
    ids: dict[str, Any] = {"command_id": outcome.command_id, "action": outcome.action}
    if outcome.status is CommandStatus.ANSWERED:
        return web.json_response(
            {**ids, "status": str(outcome.status), "response": outcome.response}
        )
    extra: dict[str, Any] = {}
    if outcome.error is not None:
        extra = {
            "ocpp_error_code": outcome.error.code,
            "ocpp_error_description": outcome.error.description,
            "ocpp_error_details": dict(outcome.error.details),
        }
    elif outcome.response is not None:  # an answer that does not match its schema
        extra = {"response": outcome.response}
    if outcome.status is CommandStatus.ERROR:
        raise ChargerFailed(outcome.detail or "", **ids, **extra)
    if outcome.status is CommandStatus.TIMEOUT:
        raise ChargerSilent(outcome.detail or "", **ids, **extra)
    status, kind = _PROBLEMS[outcome.status]
    return problem(status, outcome.detail, kind=kind, **ids, **extra)


def _record(c: CommandRecord) -> dict[str, Any]:
    error = None
    if c.error_code is not None or c.error_description is not None:
        error = {
            "code": c.error_code,
            "description": c.error_description,
            "details": c.error_details,
        }
    return {
        "id": c.id,
        "action": c.action,
        "request": c.request,
        "status": str(c.status),
        "response": c.response,
        "error": error,
        "requested_by": c.requested_by,
        "requested_at": isoformat_utc(c.requested_at),
        "answered_at": isoformat_utc(c.answered_at) if c.answered_at else None,
        "timeout_sec": c.timeout_sec,
    }
