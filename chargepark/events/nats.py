"""The NATS JetStream transport: one stream for every event, one durable pull consumer per
(consumer, event type).

Subjects are `{subject_prefix}.{event_type}`; the stream covers `{subject_prefix}.>` and drops a
repeated Nats-Msg-Id (the event id) inside its duplicate window, so the outbox may publish a row
again after a crash or an unconfirmed publish without the event being stored twice.

start() never waits for the server: a background task connects (retrying with backoff, one
warning per outage), keeps reconnecting forever once connected, ensures the stream after every
(re)connection and runs one fetch loop per durable consumer. A handler that raises is
negatively acknowledged with a backoff delay; JetStream redelivers it and counts the deliveries
(the `attempt` passed to the handler). Messages of one durable are handled one at a time, in
stream order; a nak'd message does not hold the others back (the next one of the batch is
handled at once, the nak'd one comes again after its delay), and the inbox Consumer acks it
once set aside in its retry store, after a few deliveries, so it does not keep a place among
the durable's unacknowledged messages (max_ack_pending) either.

A publish that times out is "unknown", not "failed": the server may still store it, e.g. once
a reconnect flushes it. publish() raises BusUnavailable all the same; the outbox publishes the
row again with the same Nats-Msg-Id and the stream drops the repeat.

Requests (`serve` / `request`) are NATS core request/reply, never stored: subject
`{subject_prefix}_rpc.{subject}`, outside the stream's `{subject_prefix}.>` (a core message on a
stream's subject would be stored, and JetStream's own acknowledgement would answer it). The
server answers at once when nobody subscribes to the subject ("no responders"). Subscriptions
are made when the first connection is up and renewed by the client after each reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError

from chargepark import tracing
from chargepark.errors import BusUnavailable
from chargepark.events.bus import (
    Handler,
    NoResponders,
    Responder,
    backoff_delay,
    check_subject,
)

log = logging.getLogger(__name__)
_CLOSE_WAIT_SEC = 10.0  # for the bus's tasks, then for the connection, at close

# Characters NATS does not allow in a subject token or a consumer name.
_INVALID_NAME_CHARS = frozenset(">*. /\\\t\r\n")
# JetStream de-duplicates by this header inside the stream's duplicate window.
_MSG_ID = "Nats-Msg-Id"
# JetStream API error: a stream of that name exists with another configuration.
_STREAM_NAME_IN_USE = 10058
# How long one pull request waits on the server for new messages.
_FETCH_WAIT = 5.0
# After this many empty fetches in a row, check that the durable still exists.
_IDLE_FETCHES_BEFORE_CHECK = 12
# Connecting and re-ensuring the stream back off from this, up to retry_cap.
_CONNECT_BACKOFF_BASE = 0.25
_CONNECT_TIMEOUT = 2.0
# Wait between reconnect attempts once the first connection was made.
_RECONNECT_WAIT = 1.0
# Bounds a JetStream API call (stream and consumer management).
_API_TIMEOUT = 5.0


@dataclass(frozen=True)
class _Durable:
    consumer: str
    event_type: str
    name: str
    subject: str
    handler: Handler


class NatsBus:
    def __init__(
        self,
        url: str,
        *,
        stream: str = "CHARGEPARK",
        subject_prefix: str = "chargepark",
        duplicate_window: float = 120.0,
        publish_timeout: float = 2.0,
        retry_base: float = 0.2,
        retry_cap: float = 30.0,
        ack_wait: float = 30.0,
        fetch_batch: int = 64,
    ) -> None:
        _check_name("stream", stream)
        if not subject_prefix or any(
            not token or _INVALID_NAME_CHARS & set(token) for token in subject_prefix.split(".")
        ):
            raise ValueError(f"invalid subject prefix {subject_prefix!r}")
        if fetch_batch < 1:
            raise ValueError("fetch_batch must be at least 1")
        self._url = url
        self._stream = stream
        self._prefix = subject_prefix
        self._duplicate_window = duplicate_window
        self._publish_timeout = publish_timeout
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._ack_wait = ack_wait
        self._fetch_batch = fetch_batch

        self._durables: dict[str, _Durable] = {}
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = asyncio.Event()
        self._reensure = asyncio.Event()
        # Counts stream (re-)ensures; a fetch loop binds its durable again when it changes, as
        # a server that lost its storage has lost the consumers too.
        self._generation = 0
        self._supervisor: asyncio.Task[None] | None = None
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._started = False
        self._closed = False
        self._outage = False
        self._responders: dict[str, Responder] = {}
        self._served: dict[str, Subscription | None] = {}  # None: being subscribed
        self._answering: set[asyncio.Task[None]] = set()

    # -- the EventBus port -------------------------------------------------------------------

    async def subscribe(self, consumer: str, event_types: Sequence[str], handler: Handler) -> None:
        if self._closed:
            raise RuntimeError("the bus is closed")
        new: list[_Durable] = []
        for event_type in event_types:
            _check_name("event type", event_type)
            name = f"{consumer}_{event_type}"
            _check_name("consumer", name)
            if name in self._durables or any(d.name == name for d in new):
                raise ValueError(f"consumer {consumer!r} already subscribes to {event_type!r}")
            new.append(_Durable(consumer, event_type, name, self._subject(event_type), handler))
        for durable in new:
            self._durables[durable.name] = durable
            if self._started:
                self._start_loop(durable)

    async def start(self) -> None:
        if self._started or self._closed:
            return
        self._started = True
        self._supervisor = asyncio.create_task(self._supervise(), name=f"nats-bus-{self._stream}")

    def is_ready(self) -> bool:
        return (
            not self._closed
            and self._nc is not None
            and self._nc.is_connected
            and self._stream_ready.is_set()
        )

    async def publish(self, event_type: str, event_id: str, payload: bytes) -> None:
        # Refuse at once while known to be disconnected: a request written now would wait in
        # the client's reconnect buffer and could still be stored long after it "failed".
        if not self.is_ready() or self._js is None:
            raise BusUnavailable(f"NATS bus not ready ({self._state()})")
        subject = self._subject(event_type)
        try:
            ack = await self._js.publish(
                subject,
                payload,
                timeout=self._publish_timeout,
                stream=self._stream,
                headers={_MSG_ID: event_id},
            )
        except Exception as exc:
            # A timeout leaves the outcome unknown; the retry with the same Nats-Msg-Id is
            # dropped by the stream if the first one was stored after all.
            raise BusUnavailable(
                f"publish of {event_type} {event_id} not confirmed: {type(exc).__name__}: {exc}"
            ) from exc
        if ack.duplicate:
            log.debug(
                "duplicate publish dropped by the stream",
                extra={"event_type": event_type, "event_id": event_id, "stream": ack.stream},
            )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stream_ready.clear()
        tasks = list(self._loops.values()) + list(self._answering)
        if self._supervisor is not None:
            tasks.append(self._supervisor)
        for task in tasks:
            task.cancel()
        # Each fetch loop gives back the messages it holds (nak) before it ends. Bounded: a
        # task stuck on a dead connection must not hold the process's shutdown forever.
        try:
            async with asyncio.timeout(_CLOSE_WAIT_SEC):
                results = await asyncio.gather(*tasks, return_exceptions=True)
        except TimeoutError:
            log.warning("NATS bus tasks did not stop in time", extra=self._fields())
            results = []
        for result in results:
            if isinstance(result, Exception):
                log.warning("NATS bus task failed", exc_info=result, extra=self._fields())
        self._loops.clear()
        self._supervisor = None
        nc, self._nc, self._js = self._nc, None, None
        if nc is not None:
            try:
                # close() writes out what is still buffered (acks, naks) before disconnecting.
                async with asyncio.timeout(_CLOSE_WAIT_SEC):
                    await nc.close()
            except Exception:
                log.warning(
                    "closing the NATS connection failed", exc_info=True, extra=self._fields()
                )

    async def serve(self, subject: str, responder: Responder) -> None:
        check_subject(subject)
        if self._closed:
            raise RuntimeError("the bus is closed")
        if subject in self._responders:
            raise ValueError(f"{subject!r} is served already")
        self._responders[subject] = responder
        if self._nc is not None:
            await self._subscribe_responder(subject)

    async def request(self, subject: str, data: bytes, timeout_sec: float) -> bytes:
        check_subject(subject)
        nc = self._nc
        # Refused at once while disconnected: the client would hold it in its reconnect buffer.
        if self._closed or nc is None or not nc.is_connected:
            raise BusUnavailable(f"NATS bus not connected ({self._state()})")
        if not tracing.enabled:
            return await self._request(nc, subject, data, timeout_sec, None)
        with tracing.client_span(f"{subject} request", _rpc_attributes(subject)):
            headers: dict[str, str] = {}
            tracing.inject(headers)  # the responder's span continues this one
            return await self._request(nc, subject, data, timeout_sec, headers)

    async def _request(
        self,
        nc: Client,
        subject: str,
        data: bytes,
        timeout_sec: float,
        headers: dict[str, str] | None,
    ) -> bytes:
        try:
            msg = await nc.request(
                self._rpc_subject(subject), data, timeout=timeout_sec, headers=headers
            )
        except NoRespondersError:
            raise NoResponders(f"nobody serves {subject!r}") from None
        except TimeoutError:  # the client's own timeout error is one
            raise TimeoutError(
                f"no reply to the request on {subject!r} within {timeout_sec:g} s"
            ) from None
        except Exception as exc:
            raise BusUnavailable(f"request on {subject!r} failed: {type(exc).__name__}") from exc
        return bytes(msg.data)

    # -- connection and stream ---------------------------------------------------------------

    async def _supervise(self) -> None:
        await self._connect()
        for subject in list(self._responders):
            await self._subscribe_responder(subject)
        await self._ensure_stream_until_done()
        for durable in self._durables.values():
            self._start_loop(durable)
        while True:
            await self._reensure.wait()
            self._reensure.clear()
            await self._ensure_stream_until_done()

    async def _connect(self) -> None:
        failures = 0
        while True:
            nc = Client()
            try:
                # Each attempt fails fast; reconnecting forever is switched on once connected.
                await nc.connect(
                    self._url,
                    name=f"chargepark-{self._stream}",
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0,
                    connect_timeout=_CONNECT_TIMEOUT,
                    error_cb=self._on_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    closed_cb=self._on_closed,
                )
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await nc.close()
                raise
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await nc.close()
                failures += 1
                if failures == 1:
                    self._outage = True
                    log.warning(
                        "NATS unreachable; retrying",
                        extra=self._fields() | {"error": f"{type(exc).__name__}: {exc}"},
                    )
                else:
                    log.debug(
                        "NATS still unreachable",
                        extra=self._fields()
                        | {"error": f"{type(exc).__name__}: {exc}", "attempt": failures},
                    )
                await asyncio.sleep(
                    backoff_delay(
                        min(failures, 64), base=_CONNECT_BACKOFF_BASE, cap=self._retry_cap
                    )
                )
                continue
            nc.options["allow_reconnect"] = True
            nc.options["max_reconnect_attempts"] = -1  # never give up
            nc.options["reconnect_time_wait"] = _RECONNECT_WAIT
            self._nc = nc
            self._js = nc.jetstream(timeout=_API_TIMEOUT)
            self._outage = False
            log.info("NATS connected", extra=self._fields() | {"attempts": failures + 1})
            return

    async def _ensure_stream_until_done(self) -> None:
        failures = 0
        while True:
            try:
                await self._ensure_stream()
            except Exception as exc:
                failures += 1
                level = logging.WARNING if failures == 1 else logging.DEBUG
                log.log(
                    level,
                    "cannot ensure the JetStream stream; retrying",
                    extra=self._fields() | {"error": f"{type(exc).__name__}: {exc}"},
                )
                await asyncio.sleep(
                    backoff_delay(
                        min(failures, 64), base=_CONNECT_BACKOFF_BASE, cap=self._retry_cap
                    )
                )
                continue
            self._generation += 1
            if self._nc is not None and self._nc.is_connected:
                self._stream_ready.set()
            return

    async def _ensure_stream(self) -> None:
        assert self._js is not None
        subjects = f"{self._prefix}.>"
        config = StreamConfig(
            name=self._stream,
            subjects=[subjects],
            storage=StorageType.FILE,
            duplicate_window=self._duplicate_window,
        )
        try:
            await self._js.add_stream(config)
            return
        except BadRequestError as exc:
            if exc.err_code != _STREAM_NAME_IN_USE:
                raise
        # The stream exists with another configuration: update only what this bus relies on.
        info = await self._js.stream_info(self._stream)
        current = info.config
        wanted_subjects = list(current.subjects or [])
        if subjects not in wanted_subjects:
            wanted_subjects.append(subjects)
        if (
            wanted_subjects == list(current.subjects or [])
            and current.duplicate_window == self._duplicate_window
        ):
            return
        await self._js.update_stream(
            current.evolve(subjects=wanted_subjects, duplicate_window=self._duplicate_window)
        )
        log.info(
            "JetStream stream updated",
            extra=self._fields() | {"duplicate_window": self._duplicate_window},
        )

    async def _on_error(self, exc: Exception) -> None:
        log.debug(
            "NATS client error", extra=self._fields() | {"error": f"{type(exc).__name__}: {exc}"}
        )

    async def _on_disconnected(self) -> None:
        self._stream_ready.clear()
        if self._closed or self._nc is None or self._outage:
            return
        self._outage = True
        log.warning("NATS disconnected; reconnecting", extra=self._fields())

    async def _on_reconnected(self) -> None:
        self._outage = False
        log.info("NATS reconnected", extra=self._fields())
        # The server may have lost the stream (or restarted without it); ensure it again.
        self._reensure.set()

    async def _on_closed(self) -> None:
        self._stream_ready.clear()

    # -- consuming ---------------------------------------------------------------------------

    def _start_loop(self, durable: _Durable) -> None:
        if durable.name not in self._loops:
            self._loops[durable.name] = asyncio.create_task(
                self._fetch_loop(durable), name=f"nats-bus-{durable.name}"
            )

    async def _bind(self, durable: _Durable) -> JetStreamContext.PullSubscription:
        assert self._js is not None
        config = ConsumerConfig(
            name=durable.name,
            durable_name=durable.name,
            filter_subject=durable.subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=-1,  # the inbox Consumer decides when an event is set aside or given up
            ack_wait=self._ack_wait,
        )
        # Creates the durable, or updates it in place when it exists (its position is kept).
        await self._js.add_consumer(self._stream, config)
        return await self._js.pull_subscribe_bind(durable=durable.name, stream=self._stream)

    async def _fetch_loop(self, durable: _Durable) -> None:
        psub: JetStreamContext.PullSubscription | None = None
        bound_to = 0
        failures = 0
        idle = 0
        try:
            while True:
                await self._stream_ready.wait()
                try:
                    if psub is not None and bound_to != self._generation:
                        with contextlib.suppress(Exception):
                            await psub.unsubscribe()
                        psub = None
                    if psub is None:
                        bound_to = self._generation
                        psub = await self._bind(durable)
                    try:
                        msgs = await psub.fetch(self._fetch_batch, timeout=_FETCH_WAIT)
                    except TimeoutError:
                        failures = 0
                        idle += 1
                        if idle % _IDLE_FETCHES_BEFORE_CHECK == 0:
                            # A pull request to a missing durable gets no answer at all;
                            # NotFoundError here makes the loop create it again.
                            await psub.consumer_info()
                        continue
                    failures = idle = 0
                    await self._handle_batch(durable, msgs)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    level = logging.WARNING if failures == 1 else logging.DEBUG
                    log.log(
                        level,
                        "fetching events failed; retrying",
                        extra=self._fields()
                        | {"consumer": durable.name, "error": f"{type(exc).__name__}: {exc}"},
                    )
                    if psub is not None:
                        # Bind again (and re-create the durable if it went missing) next time.
                        with contextlib.suppress(Exception):
                            await psub.unsubscribe()
                        psub = None
                    await asyncio.sleep(
                        backoff_delay(
                            min(failures, 64), base=_CONNECT_BACKOFF_BASE, cap=self._retry_cap
                        )
                    )
        finally:
            if psub is not None:
                with contextlib.suppress(Exception):
                    await psub.unsubscribe()

    async def _handle_batch(self, durable: _Durable, msgs: list[Msg]) -> None:
        fetched_at = time.monotonic()
        pending = list(msgs)
        try:
            while pending:
                msg = pending[0]
                if time.monotonic() - fetched_at > self._ack_wait / 2:
                    # A long batch: keep the server from redelivering what is still queued here.
                    await msg.in_progress()
                await self._handle(durable, msg)
                pending.pop(0)
        except asyncio.CancelledError:
            # Closing: hand back what was not handled, so that it is redelivered at once rather
            # than after ack_wait.
            for msg in pending:
                with contextlib.suppress(Exception):
                    await msg.nak()
            raise

    async def _handle(self, durable: _Durable, msg: Msg) -> None:
        attempt = msg.metadata.num_delivered
        ids = {
            "consumer": durable.name,
            "stream_seq": msg.metadata.sequence.stream,
            "attempt": attempt,
        }
        try:
            event = json.loads(msg.data)
            if not isinstance(event, dict):
                raise ValueError("an event is a JSON object")
        except ValueError as exc:  # includes JSONDecodeError and UnicodeDecodeError
            log.error(
                "undecodable event terminated",
                extra=self._fields() | ids | {"error": str(exc), "subject": msg.subject},
            )
            await msg.term()
            return
        ids["event_id"] = event.get("event_id")
        try:
            await durable.handler(event, attempt)
        except Exception:
            # backoff_delay overflows past ~1000 attempts; the cap is reached long before 64.
            delay = backoff_delay(min(attempt, 64), base=self._retry_base, cap=self._retry_cap)
            log.warning(
                "delivery failed; retrying",
                exc_info=True,
                extra=self._fields() | ids | {"retry_in": delay},
            )
            await msg.nak(delay=delay)
            return
        await msg.ack()

    # -- requests ----------------------------------------------------------------------------

    async def _subscribe_responder(self, subject: str) -> None:
        if self._nc is None or subject in self._served:
            return
        self._served[subject] = None  # a second caller meanwhile leaves it to this one
        responder = self._responders[subject]

        async def on_request(msg: Msg) -> None:
            # The client runs one callback at a time per subscription: each request gets its
            # own task, so a slow one holds up no other.
            if not msg.reply:
                return
            task = asyncio.create_task(self._answer(subject, responder, msg))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)

        try:
            self._served[subject] = await self._nc.subscribe(
                self._rpc_subject(subject), cb=on_request
            )
        except Exception:
            del self._served[subject]
            log.exception("cannot serve requests", extra=self._fields() | {"subject": subject})

    async def _answer(self, subject: str, responder: Responder, msg: Msg) -> None:
        try:
            if tracing.enabled:
                with tracing.server_span(
                    f"{subject} process", _rpc_attributes(subject), msg.headers
                ):
                    reply = await responder(msg.data)
            else:
                reply = await responder(msg.data)
        except Exception:
            log.exception("responder failed", extra=self._fields() | {"subject": subject})
            return
        try:
            await msg.respond(reply)
        except Exception as exc:
            log.warning(
                "reply not sent",
                extra=self._fields() | {"subject": subject, "error": f"{type(exc).__name__}"},
            )

    # -- helpers -----------------------------------------------------------------------------

    def _subject(self, event_type: str) -> str:
        return f"{self._prefix}.{event_type}"

    def _rpc_subject(self, subject: str) -> str:
        return f"{self._prefix}_rpc.{subject}"

    def _state(self) -> str:
        if self._closed:
            return "closed"
        if not self._started:
            return "not started"
        if self._nc is None or not self._nc.is_connected:
            return "not connected"
        return "stream not ensured"

    def _fields(self) -> dict[str, Any]:
        return {"bus": "nats", "stream": self._stream}


def _check_name(kind: str, name: str) -> None:
    if not name or _INVALID_NAME_CHARS & set(name):
        raise ValueError(f"invalid {kind} {name!r} for NATS (no '.', '*', '>', '/' or spaces)")


def _rpc_attributes(subject: str) -> dict[str, str]:
    return {"messaging.system": "nats", "messaging.destination.name": subject}
