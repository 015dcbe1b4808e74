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

Consuming (the fetch loops) is chargepark.events.nats.consume; requests (`serve` / `request`,
NATS core request/reply, never stored) chargepark.events.nats.requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

from chargepark.errors import BusUnavailable
from chargepark.events.bus import Handler, Responder, backoff_delay, check_subject
from chargepark.events.nats.consume import Durable, DurableLoop
from chargepark.events.nats.requests import NatsRequests

log = logging.getLogger("chargepark.events.nats")
_CLOSE_WAIT_SEC = 10.0  # for the bus's tasks, then for the connection, at close

# Characters NATS does not allow in a subject token or a consumer name.
_INVALID_NAME_CHARS = frozenset(">*. /\\\t\r\n")
# JetStream de-duplicates by this header inside the stream's duplicate window.
_MSG_ID = "Nats-Msg-Id"
# JetStream API error: a stream of that name exists with another configuration.
_STREAM_NAME_IN_USE = 10058
# Connecting and re-ensuring the stream back off from this, up to retry_cap.
_CONNECT_BACKOFF_BASE = 0.25
_CONNECT_TIMEOUT = 2.0
# Wait between reconnect attempts once the first connection was made.
_RECONNECT_WAIT = 1.0
# Bounds a JetStream API call (stream and consumer management).
_API_TIMEOUT = 5.0


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
        self.stream = stream
        self._prefix = subject_prefix
        self._duplicate_window = duplicate_window
        self._publish_timeout = publish_timeout
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.ack_wait = ack_wait
        self.fetch_batch = fetch_batch

        self._durables: dict[str, Durable] = {}
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self.stream_ready = asyncio.Event()
        self._reensure = asyncio.Event()
        # Counts stream (re-)ensures; a fetch loop binds its durable again when it changes, as
        # a server that lost its storage has lost the consumers too.
        self.generation = 0
        self._supervisor: asyncio.Task[None] | None = None
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._started = False
        self._closed = False
        self._outage = False
        self._requests = NatsRequests(subject_prefix, self.fields)

    # -- the EventBus port -------------------------------------------------------------------

    async def subscribe(self, consumer: str, event_types: Sequence[str], handler: Handler) -> None:
        if self._closed:
            raise RuntimeError("the bus is closed")
        new: list[Durable] = []
        for event_type in event_types:
            _check_name("event type", event_type)
            name = f"{consumer}_{event_type}"
            _check_name("consumer", name)
            if name in self._durables or any(d.name == name for d in new):
                raise ValueError(f"consumer {consumer!r} already subscribes to {event_type!r}")
            new.append(Durable(consumer, event_type, name, self._subject(event_type), handler))
        for durable in new:
            self._durables[durable.name] = durable
            if self._started:
                self._start_loop(durable)

    async def start(self) -> None:
        if self._started or self._closed:
            return
        self._started = True
        self._supervisor = asyncio.create_task(self._supervise(), name=f"nats-bus-{self.stream}")

    def is_ready(self) -> bool:
        return (
            not self._closed
            and self._nc is not None
            and self._nc.is_connected
            and self.stream_ready.is_set()
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
                stream=self.stream,
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
        self.stream_ready.clear()
        tasks = list(self._loops.values()) + list(self._requests.answering)
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
            log.warning("NATS bus tasks did not stop in time", extra=self.fields())
            results = []
        for result in results:
            if isinstance(result, Exception):
                log.warning("NATS bus task failed", exc_info=result, extra=self.fields())
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
                    "closing the NATS connection failed", exc_info=True, extra=self.fields()
                )

    async def serve(self, subject: str, responder: Responder) -> None:
        check_subject(subject)
        if self._closed:
            raise RuntimeError("the bus is closed")
        if subject in self._requests.responders:
            raise ValueError(f"{subject!r} is served already")
        self._requests.responders[subject] = responder
        await self._requests.subscribe(self._nc, subject)

    async def request(self, subject: str, data: bytes, timeout_sec: float) -> bytes:
        check_subject(subject)
        nc = self._nc
        # Refused at once while disconnected: the client would hold it in its reconnect buffer.
        if self._closed or nc is None or not nc.is_connected:
            raise BusUnavailable(f"NATS bus not connected ({self._state()})")
        return await self._requests.request(nc, subject, data, timeout_sec)

    # -- connection and stream ---------------------------------------------------------------

    async def _supervise(self) -> None:
        await self._connect()
        for subject in list(self._requests.responders):
            await self._requests.subscribe(self._nc, subject)
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
                    name=f"chargepark-{self.stream}",
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0,
                    # nats-py annotates an int but hands it to asyncio as seconds (a float).
                    connect_timeout=_CONNECT_TIMEOUT,  # type: ignore[arg-type]
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
                        extra=self.fields() | {"error": f"{type(exc).__name__}: {exc}"},
                    )
                else:
                    log.debug(
                        "NATS still unreachable",
                        extra=self.fields()
                        | {"error": f"{type(exc).__name__}: {exc}", "attempt": failures},
                    )
                await asyncio.sleep(
                    backoff_delay(min(failures, 64), base=_CONNECT_BACKOFF_BASE, cap=self.retry_cap)
                )
                continue
            nc.options["allow_reconnect"] = True
            nc.options["max_reconnect_attempts"] = -1  # never give up
            nc.options["reconnect_time_wait"] = _RECONNECT_WAIT
            self._nc = nc
            self._js = nc.jetstream(timeout=_API_TIMEOUT)
            self._outage = False
            log.info("NATS connected", extra=self.fields() | {"attempts": failures + 1})
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
                    extra=self.fields() | {"error": f"{type(exc).__name__}: {exc}"},
                )
                await asyncio.sleep(
                    backoff_delay(min(failures, 64), base=_CONNECT_BACKOFF_BASE, cap=self.retry_cap)
                )
                continue
            self.generation += 1
            if self._nc is not None and self._nc.is_connected:
                self.stream_ready.set()
            return

    async def _ensure_stream(self) -> None:
        assert self._js is not None
        subjects = f"{self._prefix}.>"
        config = StreamConfig(
            name=self.stream,
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
        info = await self._js.stream_info(self.stream)
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
            extra=self.fields() | {"duplicate_window": self._duplicate_window},
        )

    async def _on_error(self, exc: Exception) -> None:
        log.debug(
            "NATS client error", extra=self.fields() | {"error": f"{type(exc).__name__}: {exc}"}
        )

    async def _on_disconnected(self) -> None:
        self.stream_ready.clear()
        if self._closed or self._nc is None or self._outage:
            return
        self._outage = True
        log.warning("NATS disconnected; reconnecting", extra=self.fields())

    async def _on_reconnected(self) -> None:
        self._outage = False
        log.info("NATS reconnected", extra=self.fields())
        # The server may have lost the stream (or restarted without it); ensure it again.
        self._reensure.set()

    async def _on_closed(self) -> None:
        self.stream_ready.clear()

    # -- helpers -----------------------------------------------------------------------------

    def _subject(self, event_type: str) -> str:
        return f"{self._prefix}.{event_type}"

    def _start_loop(self, durable: Durable) -> None:
        if durable.name not in self._loops:
            self._loops[durable.name] = asyncio.create_task(
                DurableLoop(self, durable).run(), name=f"nats-bus-{durable.name}"
            )

    @property
    def jetstream(self) -> JetStreamContext | None:
        return self._js

    def _state(self) -> str:
        if self._closed:
            return "closed"
        if not self._started:
            return "not started"
        if self._nc is None or not self._nc.is_connected:
            return "not connected"
        return "stream not ensured"

    def fields(self) -> dict[str, Any]:
        return {"bus": "nats", "stream": self.stream}


def _check_name(kind: str, name: str) -> None:
    if not name or _INVALID_NAME_CHARS & set(name):
        raise ValueError(f"invalid {kind} {name!r} for NATS (no '.', '*', '>', '/' or spaces)")
