"""The command sender of a csms node among several: a command goes out from the node holding the
charger's socket, whichever node was asked.

A charger connected to this node: the local port sends it. Connected to another node (the
shared presence says which): a request through the bus to that node's command subject
(`csms.commands.<node id>`), which sends it through its own local port and replies with the
outcome; the command log is kept by the node that was asked (RecordedCommandPort wraps this
port), never a second time by the one that sent it. No node holds it: OFFLINE. A node that
holds it by the table but has nobody serving its subject is gone (crashed): its row is removed
and the command is OFFLINE, at once rather than after the timeout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from chargepark.errors import BusUnavailable
from chargepark.events.bus import EventBus, NoResponders
from csms.adapters.cluster import Whereabouts
from csms.ports.gateway import (
    DEFAULT_TIMEOUT_SEC,
    MAX_TIMEOUT_SEC,
    CallErrorReply,
    CommandOutcome,
    CommandSender,
    CommandStatus,
)

log = logging.getLogger(__name__)

# Beyond the command's own timeout (which the holding node enforces), for the trip both ways.
TRANSPORT_MARGIN_SEC = 5.0

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def command_subject(node_id: str) -> str:
    return f"csms.commands.{node_id}"


class RoutedCommandPort:
    def __init__(self, local: CommandSender, whereabouts: Whereabouts, bus: EventBus) -> None:
        self.local = local
        self.whereabouts = whereabouts
        self.bus = bus

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = DEFAULT_TIMEOUT_SEC,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        holder = await self.whereabouts.elsewhere(charger_id)
        if holder is None:  # here, or nowhere (then the local port says OFFLINE)
            return await self.local.send(
                charger_id, action, payload, timeout_sec, requested_by=requested_by
            )
        timeout = min(max(timeout_sec, 0.0), MAX_TIMEOUT_SEC)
        request = encode_request(charger_id, action, payload, timeout, requested_by)
        where = {"charger_id": charger_id, "action": action, "node_id": holder.node_id}
        try:
            reply = await self.bus.request(
                command_subject(holder.node_id), request, timeout + TRANSPORT_MARGIN_SEC
            )
        except NoResponders:
            await self.whereabouts.forget(charger_id, holder.node_id)
            detail = "the charger is not connected to csms (the node that held it is gone)"
            return CommandOutcome(CommandStatus.OFFLINE, action, detail=detail)
        except BusUnavailable as exc:
            log.warning("command not routed: the bus is down", extra=where | {"error": str(exc)})
            detail = "the charger is connected to another csms node, which cannot be reached now"
            return CommandOutcome(CommandStatus.OFFLINE, action, detail=detail)
        except TimeoutError:
            log.warning("no reply from the node holding the charger", extra=where)
            detail = f"no answer from the csms node holding the charger within {timeout:g} s"
            return CommandOutcome(CommandStatus.TIMEOUT, action, detail=detail)
        try:
            return decode_outcome(reply)
        except (ValueError, KeyError, TypeError):
            log.error("unreadable reply from a csms node", extra=where)
            detail = "the csms node holding the charger sent an unreadable reply"
            return CommandOutcome(CommandStatus.TIMEOUT, action, detail=detail)


class CommandResponder:
    """Serves this node's command subject: sends what other nodes route here through the local
    port (not recorded here: the asking node records it) and replies with the outcome."""

    def __init__(self, local: CommandSender, bus: EventBus, node_id: str) -> None:
        self.local = local
        self.bus = bus
        self.node_id = node_id

    async def start(self) -> None:
        await self.bus.serve(command_subject(self.node_id), self.answer)

    async def stop(self) -> None:
        """Nothing to do: the bus stops serving when it closes."""

    async def answer(self, data: bytes) -> bytes:
        try:
            request = json.loads(data)
            charger_id, action = str(request["charger_id"]), str(request["action"])
            payload, timeout_sec = request["payload"], float(request["timeout_sec"])
            requested_by = request.get("requested_by")
        except (ValueError, KeyError, TypeError):
            log.error("unreadable command request from another csms node")
            outcome = CommandOutcome(
                CommandStatus.INVALID, "", detail="unreadable routed command request"
            )
            return encode_outcome(outcome)
        try:
            outcome = await self.local.send(
                charger_id, action, payload, timeout_sec, requested_by=requested_by
            )
        except Exception:
            # It may have gone out: say so, as the command log does for a send cut short.
            log.exception("routed command failed", extra={"charger_id": charger_id})
            outcome = CommandOutcome(
                CommandStatus.TIMEOUT, action, detail="csms stopped waiting for the answer"
            )
        return encode_outcome(outcome)


def encode_request(
    charger_id: str,
    action: str,
    payload: Mapping[str, Any],
    timeout_sec: float,
    requested_by: str | None,
) -> bytes:
    return _dumps(
        {
            "charger_id": charger_id,
            "action": action,
            "payload": dict(payload),
            "timeout_sec": timeout_sec,
            "requested_by": requested_by,
        }
    ).encode()


def encode_outcome(outcome: CommandOutcome) -> bytes:
    error = outcome.error
    return _dumps(
        {
            "status": str(outcome.status),
            "action": outcome.action,
            "response": dict(outcome.response) if outcome.response is not None else None,
            "error": (
                {
                    "code": error.code,
                    "description": error.description,
                    "details": dict(error.details),
                }
                if error is not None
                else None
            ),
            "detail": outcome.detail,
            "ocpp_version": outcome.ocpp_version,
        }
    ).encode()


def decode_outcome(data: bytes) -> CommandOutcome:
    raw = json.loads(data)
    error = raw.get("error")
    return CommandOutcome(
        CommandStatus(raw["status"]),
        raw["action"],
        response=raw.get("response"),
        error=(
            CallErrorReply(error["code"], error["description"], error.get("details") or {})
            if error is not None
            else None
        ),
        detail=raw.get("detail"),
        ocpp_version=raw.get("ocpp_version"),
    )
