"""The command sender for chargers whose socket this process holds.

A command goes out through the charger's ChargePoint adapter (`call()`, which correlates the
answer by message id). Commands to one charger wait their turn here, first come first served,
so the time each waits is known and none is sent after its caller has given up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from weakref import WeakKeyDictionary

from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from websockets.exceptions import ConnectionClosed

from csms.adapters.presence import Presence
from csms.ocpp.gateway.catalog import InvalidCommand, answer_problem, build_request, wire_payload
from csms.ports.gateway import (
    DEFAULT_TIMEOUT_SEC,
    MAX_TIMEOUT_SEC,
    CallErrorReply,
    CommandOutcome,
    CommandStatus,
)

log = logging.getLogger(__name__)


class _Closed(Exception):
    """The socket closed after the CALL went out and before an answer came."""


class _Unreadable(Exception):
    """The answer has fields the action's response does not define."""


class LocalCommandPort:
    def __init__(self, presence: Presence) -> None:
        self.presence = presence
        # One queue per connection: a replacing socket starts with an empty one.
        self._turns: WeakKeyDictionary[Any, asyncio.Lock] = WeakKeyDictionary()

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = DEFAULT_TIMEOUT_SEC,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        live = self.presence.get(charger_id)
        if live is None or live.charge_point is None:
            return CommandOutcome(
                CommandStatus.OFFLINE, action, detail="the charger is not connected to csms"
            )
        version = live.ocpp_version.removeprefix("ocpp")
        try:
            request = build_request(version, action, payload)
        except InvalidCommand as exc:
            return CommandOutcome(
                CommandStatus.INVALID, action, detail=exc.detail, ocpp_version=version
            )
        outcome = replace(
            await self._call(
                live.charge_point, live.connection, version, action, request, timeout_sec
            ),
            ocpp_version=version,
        )
        log.log(
            logging.INFO if outcome.answered else logging.WARNING,
            "command to charger",
            extra={"charger_id": charger_id, "action": action, "status": str(outcome.status)},
        )
        return outcome

    async def _call(
        self,
        charge_point: Any,
        connection: Any,
        version: str,
        action: str,
        request: Any,
        timeout_sec: float,
    ) -> CommandOutcome:
        timeout = min(max(timeout_sec, 0.0), MAX_TIMEOUT_SEC)
        sent = False
        try:
            async with asyncio.timeout(timeout):
                async with self._turn(charge_point):
                    sent = True
                    result = await _call_unless_closed(charge_point, connection, request)
        except TimeoutError:
            detail = (
                f"no answer within {timeout:g} s"
                if sent
                else f"not sent: earlier commands to this charger took all of {timeout:g} s"
            )
            return CommandOutcome(CommandStatus.TIMEOUT, action, detail=detail)
        except _Closed:
            detail = "the charger disconnected before it answered"
            return CommandOutcome(CommandStatus.TIMEOUT, action, detail=detail)
        except ConnectionClosed:  # raised by the send itself: nothing went out
            detail = "the charger disconnected before the command went out"
            return CommandOutcome(CommandStatus.OFFLINE, action, detail=detail)
        except OCPPError as exc:  # with schema checks skipped, only a CALLERROR raises these
            reply = CallErrorReply(exc.code, exc.description, exc.details or {})
            return _refused(action, reply)
        except UnknownCallErrorCodeError as exc:
            return _refused(action, CallErrorReply(None, str(exc), {}))
        except _Unreadable:
            detail = f"the charger's answer has fields a {action} response does not define"
            return CommandOutcome(CommandStatus.ERROR, action, detail=detail)
        response = wire_payload(result)
        problem = answer_problem(version, action, response)
        if problem is not None:
            detail = f"the charger's answer does not match the {action} response schema: {problem}"
            return CommandOutcome(CommandStatus.ERROR, action, response=response, detail=detail)
        return CommandOutcome(CommandStatus.ANSWERED, action, response=response)

    def _turn(self, charge_point: Any) -> asyncio.Lock:
        turn = self._turns.get(charge_point)
        if turn is None:
            turn = self._turns[charge_point] = asyncio.Lock()  # asyncio.Lock is FIFO
        return turn


async def _call_unless_closed(charge_point: Any, connection: Any, request: Any) -> Any:
    # Our own check ran already (catalog); the library's would only repeat it, and on the
    # answer it raises the same exceptions as a CALLERROR, which must stay distinguishable.
    call = asyncio.ensure_future(
        charge_point.call(request, suppress=False, skip_schema_validation=True)
    )
    closed = asyncio.ensure_future(connection.wait_closed())
    try:
        await asyncio.wait((call, closed), return_when=asyncio.FIRST_COMPLETED)
    finally:
        closed.cancel()
        if not call.done():
            call.cancel()
            await asyncio.gather(call, return_exceptions=True)
    if call.cancelled():
        raise _Closed
    try:
        return call.result()
    except TypeError as exc:
        # The library builds its result object from the answer's keys: a key the schema does
        # not define fails there, before the payload can be read.
        raise _Unreadable from exc


def _refused(action: str, reply: CallErrorReply) -> CommandOutcome:
    detail = f"the charger answered {action} with {reply.code or 'an error'}: {reply.description}"
    return CommandOutcome(CommandStatus.ERROR, action, error=reply, detail=detail)
