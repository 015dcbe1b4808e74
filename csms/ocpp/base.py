"""The OCPP-J RPC edge every version's ChargePoint shares: each frame gets the answer its version
prescribes, and nothing a charger sends ends the connection.

The ocpp library only logs frames it cannot parse, swaps NotImplemented and NotSupported, answers
1.6 with 2.0.1 spellings, lets a failing `@after` hook escape into the connection loop and queues
answers nobody waits for. `ProtocolEdge` replaces its `route_message` and `_handle_call`; the
codes, by version, and the reading of a frame are in `csms.ocpp.rpc`.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import ocpp.messages
from ocpp import exceptions as errors
from ocpp.charge_point import ChargePoint as LibraryChargePoint
from ocpp.messages import Call, CallError, CallResult, MessageType
from opentelemetry.trace import SpanKind
from websockets.exceptions import ConnectionClosed

from chargepark import tracing
from chargepark.db.batcher import Overloaded
from chargepark.http.problem import out_of_reach
from csms.ocpp import payloads
from csms.ocpp.rpc import (
    DIALECTS,
    FAULT_OF_ERROR,
    V201,
    BadFrame,
    Fault,
    RpcDialect,
    read_frame,
    schema_fault,
)

# Validate inline, not in the default thread pool: measured, the hop costs ~280 us per message
# against ~45 us inline. (`payloads.validate` goes faster still; this covers the library's own
# validation of the calls we send.)
ocpp.messages.ASYNC_VALIDATION = False

log = logging.getLogger(__name__)

_dumps = json.JSONEncoder(separators=(",", ":")).encode
_BUSY = {"cause": "overloaded: try again later"}
_UNAVAILABLE = {"cause": "temporarily unavailable: try again later"}


_OWN_METHODS = frozenset({"route_message", "_handle_call", "call"})


class ProtocolEdge:
    """Put right before the library's ChargePoint in the bases, after any mixin that wraps
    `route_message`: `class ChargePoint(Adapter, ProtocolEdge, ocpp.v16.ChargePoint)`."""

    id: str
    route_map: dict[Any, dict[str, Any]]
    _ocpp_version: str
    _response_queue: asyncio.Queue[Any]
    _unique_id_generator: Callable[[], Any]
    _send: Callable[[str], Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A class between this one and the library's would be skipped, silently: refuse it.
        for klass in cls.__mro__[cls.__mro__.index(ProtocolEdge) + 1 :]:
            if klass is LibraryChargePoint:
                break
            if shadowed := _OWN_METHODS & vars(klass).keys():
                raise TypeError(
                    f"{cls.__name__}: {klass.__name__} defines {', '.join(sorted(shadowed))} "
                    "and must come before ProtocolEdge in the bases"
                )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._awaiting: set[str] = set()  # ids of our CALLs that wait for an answer
        self._after_tasks: set[asyncio.Future[Any]] = set()
        self.overloads = 0  # calls refused because the csms was overloaded
        if tracing.enabled:
            # Chosen once per connection: without tracing no message pays for a span.
            self._handle_call = self._handle_call_traced  # type: ignore[method-assign]
            self.call = self._call_traced  # type: ignore[method-assign]

    @property
    def _rpc(self) -> RpcDialect:
        return DIALECTS.get(self._ocpp_version, V201)

    async def route_message(self, raw_msg: str | bytes) -> None:
        try:
            try:
                msg = read_frame(raw_msg)
            except BadFrame as bad:
                await self._refuse_frame(bad, raw_msg)
                return
            if msg.message_type_id == MessageType.Call:
                await self._handle_call(msg)
            else:
                self._deliver(msg)
        except ConnectionClosed:
            raise  # the socket is gone: end the loop as its next recv() would
        except Exception:  # our bug, not the charger's: keep the connection
            log.exception("OCPP frame handling failed", extra={"charger_id": self.id})

    async def call(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: str | None = None,
        skip_schema_validation: bool = False,
    ) -> Any:
        unique_id = str(self._unique_id_generator()) if unique_id is None else unique_id
        self._awaiting.add(unique_id)  # before sending: the answer may beat the send's return
        try:
            return await super().call(  # type: ignore[misc]
                payload, suppress, unique_id, skip_schema_validation
            )
        finally:
            self._awaiting.discard(unique_id)

    async def _handle_call_traced(self, msg: Call) -> None:
        """`_handle_call` inside a SERVER span: one per CALL the charger sends."""
        attributes = {
            "rpc.system": "ocpp",
            "ocpp.charger_id": self.id,
            "ocpp.action": msg.action[:64],
            "ocpp.message_id": msg.unique_id[:64],
            "ocpp.version": self._ocpp_version,
        }
        with tracing.span(f"ocpp {msg.action[:64]}", kind=SpanKind.SERVER, attributes=attributes):
            await ProtocolEdge._handle_call(self, msg)

    async def _call_traced(
        self,
        payload: Any,
        suppress: bool = True,
        unique_id: str | None = None,
        skip_schema_validation: bool = False,
    ) -> Any:
        """`call` inside a CLIENT span: one per CALL sent to the charger."""
        unique_id = str(self._unique_id_generator()) if unique_id is None else unique_id
        action = type(payload).__name__.removesuffix("Payload")
        attributes = {
            "rpc.system": "ocpp",
            "ocpp.charger_id": self.id,
            "ocpp.action": action,
            "ocpp.message_id": unique_id[:64],
            "ocpp.version": self._ocpp_version,
        }
        with tracing.span(f"ocpp {action}", kind=SpanKind.CLIENT, attributes=attributes):
            return await ProtocolEdge.call(
                self, payload, suppress, unique_id, skip_schema_validation
            )

    def _deliver(self, msg: CallResult | CallError) -> None:
        if msg.unique_id in self._awaiting:
            self._awaiting.discard(msg.unique_id)  # a second answer to it is dropped below
            self._response_queue.put_nowait(msg)
            return
        # Stale (after our timeout), duplicated, or never asked for.
        log.warning(
            "answer to no pending call dropped",
            extra={"charger_id": self.id, "message_id": msg.unique_id[:64]},
        )

    async def _refuse_frame(self, bad: BadFrame, raw: str | bytes) -> None:
        extra = {
            "charger_id": self.id,
            "message_id": bad.unique_id and bad.unique_id[:64],
            "cause": bad.cause,
            "frame": raw[:200],
        }
        unique_id = bad.unique_id if bad.unique_id is not None else self._rpc.unreadable_id
        if not bad.answer or unique_id is None:
            log.warning("malformed OCPP frame dropped", extra=extra)
            return
        log.warning("malformed OCPP frame refused", extra=extra)
        await self._send_error(unique_id, *self._rpc.codes[bad.fault], {"cause": bad.cause})

    # Every CALL passes here: one body keeps the hot path free of extra calls, and the spec
    # clauses of each answer next to the code that gives it.
    # long: the hot path's one dispatch of a CALL
    async def _handle_call(self, msg: Call) -> None:
        """Answer one CALL: a CALLRESULT, or a CALLERROR with the version's code."""
        handlers = self.route_map.get(msg.action)
        if handlers is None or "_on_action" not in handlers:
            known = msg.action in self._rpc.actions
            await self._refuse(msg, Fault.NOT_SUPPORTED if known else Fault.NOT_IMPLEMENTED)
            return
        if msg.payload is None:
            msg.payload = {}
        elif type(msg.payload) is not dict:
            await self._refuse(msg, Fault.FORMAT, "the payload is not a JSON object")
            return
        validate = not handlers.get("_skip_schema_validation", False)
        try:
            if validate:
                payloads.validate(msg, self._ocpp_version)
            kwargs = payloads.to_snake(msg.payload)
        except errors.OCPPError as exc:
            fault, cause = schema_fault(exc)
            if fault is Fault.INTERNAL:  # e.g. no schema for an action we handle
                log.error("OCPP request not validated", exc_info=exc, extra=self._ids(msg))
            await self._refuse(msg, fault, cause)
            return
        except Exception:  # e.g. RecursionError: a payload nested deeper than we read
            log.exception("OCPP request not read", extra=self._ids(msg))
            await self._refuse(msg, Fault.INTERNAL)
            return
        handler = handlers["_on_action"]
        try:
            if _wants_unique_id(handler):
                response = handler(**kwargs, call_unique_id=msg.unique_id)
            else:
                response = handler(**kwargs)
            if inspect.isawaitable(response):
                response = await response
        except errors.OCPPError as exc:  # the handler's own refusal, spelt for this version
            await self._refuse_raised(msg, exc)
            return
        except Overloaded:
            # Shed load: the queue behind this call is full. The charger hears at once that its
            # call was not processed, instead of waiting into its timeout while we fall further
            # behind; whether it sends the message again is its own retry policy.
            self.overloads += 1
            _log_once_a_minute("overload", "overloaded: calls answered InternalError", self.id)
            await self._send_error(msg.unique_id, *self._rpc.codes[Fault.INTERNAL], _BUSY)
            return
        except Exception as exc:
            if out_of_reach(exc):
                # The database is restarting or out of connections: our failure, not the
                # charger's, and a passing one. The charger sends the message again (its retry
                # policy); a traceback per message would flood the log for the whole outage.
                _log_once_a_minute(
                    "unavailable",
                    "database out of reach: calls answered InternalError",
                    self.id,
                    exc,
                )
                await self._send_error(
                    msg.unique_id, *self._rpc.codes[Fault.INTERNAL], _UNAVAILABLE
                )
                return
            log.exception("OCPP handler failed", extra=self._ids(msg))
            await self._refuse(msg, Fault.INTERNAL)
            return
        try:
            result = msg.create_call_result(payloads.answer_payload(response))
            if validate:
                payloads.validate(result, self._ocpp_version)
            frame = _result_frame(result)
        except Exception:
            log.exception("OCPP handler returned an invalid response", extra=self._ids(msg))
            await self._refuse(msg, Fault.INTERNAL)
            return
        await self._send(frame)
        if "_after_action" in handlers:
            self._run_after(handlers["_after_action"], kwargs, msg)

    def _run_after(self, hook: Callable[..., Any], kwargs: dict[str, Any], msg: Call) -> None:
        try:
            if _wants_unique_id(hook):
                outcome = hook(**kwargs, call_unique_id=msg.unique_id)
            else:
                outcome = hook(**kwargs)
        except Exception:
            log.exception("OCPP after-hook failed", extra=self._ids(msg))
            return
        if inspect.isawaitable(outcome):  # held, so it is not collected mid-flight; failures logged
            task = asyncio.ensure_future(outcome)
            self._after_tasks.add(task)
            task.add_done_callback(functools.partial(self._after_done, self._ids(msg)))

    def _after_done(self, ids: dict[str, str], task: asyncio.Future[Any]) -> None:
        self._after_tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("OCPP after-hook failed", exc_info=exc, extra=ids)

    async def _refuse(self, msg: Call, fault: Fault, cause: str | None = None) -> None:
        code, description = self._rpc.codes[fault]
        if fault is not Fault.INTERNAL:  # internal failures are logged where they happen
            log.warning("OCPP call refused", extra={**self._ids(msg), "code": code, "cause": cause})
        await self._send_error(msg.unique_id, code, description, {"cause": cause} if cause else {})

    async def _refuse_raised(self, msg: Call, exc: errors.OCPPError) -> None:
        fault = FAULT_OF_ERROR.get(type(exc))
        code = self._rpc.codes[fault][0] if fault else exc.code
        description = exc.description
        if description == type(exc).default_description:  # the library's, swapped for two codes
            description = self._rpc.describe(code) or description
        log.info("OCPP call refused by its handler", extra={**self._ids(msg), "code": code})
        await self._send_error(msg.unique_id, code, description, exc.details)

    async def _send_error(
        self, unique_id: str, code: str, description: str, details: dict[str, Any]
    ) -> None:
        if tracing.enabled:
            tracing.set_attribute("ocpp.error_code", code)
            tracing.set_error(f"CALLERROR {code}")
        try:
            frame = _dumps([MessageType.CallError, unique_id, code, description, details])
        except (TypeError, ValueError):  # details a handler filled with something not JSON
            frame = _dumps([MessageType.CallError, unique_id, code, description, {}])
        await self._send(frame)

    def _ids(self, msg: Call) -> dict[str, str]:
        return {"charger_id": self.id, "action": msg.action[:64], "message_id": msg.unique_id[:64]}


def _result_frame(result: CallResult) -> str:
    # One prebuilt encoder instead of `to_json`'s `json.dumps(..., cls=...)`, which builds an
    # encoder per message; the library's (Decimal-aware) encoding only for what this one refuses.
    try:
        return _dumps([MessageType.CallResult, result.unique_id, result.payload])
    except TypeError:
        return str(result.to_json())


_logged_at: dict[str, float] = {}


def _log_once_a_minute(
    kind: str, message: str, charger_id: str, exc: BaseException | None = None
) -> None:
    # At most one line a minute per kind: under overload or an outage a line per refused call
    # would add to it.
    now = time.monotonic()
    if now - _logged_at.get(kind, -60.0) >= 60.0:
        _logged_at[kind] = now
        extra = {"charger_id": charger_id}
        if exc is not None:
            extra["error"] = f"{type(exc).__name__}: {exc}"[:300]
        log.warning(message, extra=extra)


@functools.cache
def _wants_unique_id_of(function: Callable[..., Any]) -> bool:
    return "call_unique_id" in inspect.signature(function).parameters


def _wants_unique_id(handler: Callable[..., Any]) -> bool:
    # Cached per function: inspect.signature costs more than a Heartbeat's whole handling.
    return _wants_unique_id_of(getattr(handler, "__func__", handler))
