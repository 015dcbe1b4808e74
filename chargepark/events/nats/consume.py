"""Consuming from JetStream: one fetch loop per durable pull consumer (consumer, event type).

Messages of one durable are handled one at a time, in stream order. A handler that raises is
negatively acknowledged with a backoff delay; JetStream redelivers it and counts the deliveries
(the `attempt` passed to the handler). The loop binds its durable again after the stream was
ensured anew (a server that lost its storage lost the consumers too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from chargepark.events.bus import Handler, backoff_delay

if TYPE_CHECKING:
    from chargepark.events.nats.bus import NatsBus

log = logging.getLogger("chargepark.events.nats")

# How long one pull request waits on the server for new messages.
FETCH_WAIT = 5.0
# After this many empty fetches in a row, check that the durable still exists.
IDLE_FETCHES_BEFORE_CHECK = 12
# Fetching again after a failure backs off from this, up to the bus's retry_cap.
FETCH_BACKOFF_BASE = 0.25


@dataclass(frozen=True)
class Durable:
    consumer: str
    event_type: str
    name: str
    subject: str
    handler: Handler


class DurableLoop:
    """Fetches `durable`'s messages from `bus`'s stream and hands them to its handler, until
    cancelled (then it gives back what it holds)."""

    def __init__(self, bus: NatsBus, durable: Durable) -> None:
        self.bus = bus
        self.durable = durable

    async def _bind(self) -> JetStreamContext.PullSubscription:
        js, durable = self.bus.jetstream, self.durable
        assert js is not None
        config = ConsumerConfig(
            name=durable.name,
            durable_name=durable.name,
            filter_subject=durable.subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=-1,  # the inbox Consumer decides when an event is set aside or given up
            ack_wait=self.bus.ack_wait,
        )
        # Creates the durable, or updates it in place when it exists (its position is kept).
        await js.add_consumer(self.bus.stream, config)
        return await js.pull_subscribe_bind(durable=durable.name, stream=self.bus.stream)

    async def run(self) -> None:
        bus = self.bus
        psub: JetStreamContext.PullSubscription | None = None
        bound_to = 0
        failures = 0
        idle = 0
        try:
            while True:
                await bus.stream_ready.wait()
                try:
                    if psub is not None and bound_to != bus.generation:
                        await _unsubscribe(psub)
                        psub = None
                    if psub is None:
                        bound_to = bus.generation
                        psub = await self._bind()
                    try:
                        msgs = await psub.fetch(bus.fetch_batch, timeout=FETCH_WAIT)
                    except TimeoutError:
                        failures = 0
                        idle += 1
                        if idle % IDLE_FETCHES_BEFORE_CHECK == 0:
                            # A pull request to a missing durable gets no answer at all;
                            # NotFoundError here makes the loop create it again.
                            await psub.consumer_info()
                        continue
                    failures = idle = 0
                    await self._handle_batch(msgs)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    self._fetch_failed(exc, failures)
                    if psub is not None:
                        # Bind again (and re-create the durable if it went missing) next time.
                        await _unsubscribe(psub)
                        psub = None
                    await asyncio.sleep(
                        backoff_delay(min(failures, 64), base=FETCH_BACKOFF_BASE, cap=bus.retry_cap)
                    )
        finally:
            if psub is not None:
                await _unsubscribe(psub)

    def _fetch_failed(self, exc: Exception, failures: int) -> None:
        level = logging.WARNING if failures == 1 else logging.DEBUG
        log.log(
            level,
            "fetching events failed; retrying",
            extra=self.bus.fields()
            | {"consumer": self.durable.name, "error": f"{type(exc).__name__}: {exc}"},
        )

    async def _handle_batch(self, msgs: list[Msg]) -> None:
        fetched_at = time.monotonic()
        pending = list(msgs)
        try:
            while pending:
                msg = pending[0]
                if time.monotonic() - fetched_at > self.bus.ack_wait / 2:
                    # A long batch: keep the server from redelivering what is still queued here.
                    await msg.in_progress()
                await self._handle(msg)
                pending.pop(0)
        except asyncio.CancelledError:
            # Closing: hand back what was not handled, so that it is redelivered at once rather
            # than after ack_wait.
            for msg in pending:
                with contextlib.suppress(Exception):
                    await msg.nak()
            raise

    async def _handle(self, msg: Msg) -> None:
        bus, durable = self.bus, self.durable
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
                extra=bus.fields() | ids | {"error": str(exc), "subject": msg.subject},
            )
            await msg.term()
            return
        ids["event_id"] = event.get("event_id")
        try:
            await durable.handler(event, attempt)
        except Exception:
            # backoff_delay overflows past ~1000 attempts; the cap is reached long before 64.
            delay = backoff_delay(min(attempt, 64), base=bus.retry_base, cap=bus.retry_cap)
            log.warning(
                "delivery failed; retrying",
                exc_info=True,
                extra=bus.fields() | ids | {"retry_in": delay},
            )
            await msg.nak(delay=delay)
            return
        await msg.ack()


async def _unsubscribe(psub: JetStreamContext.PullSubscription) -> None:
    with contextlib.suppress(Exception):
        await psub.unsubscribe()
