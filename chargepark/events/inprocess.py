"""The embedded transport: events go straight from a relay to the consumers in this process.

publish() returns once every consumer of the event has applied it, rejected it, set it aside in
its retry store or dead-lettered it, so the relay marks an outbox row sent only when nothing in
this process still depends on it: a crash at any point leaves the row unsent and it is delivered
again on the next start (the inbox drops the repeats). This trades relay throughput for not
needing a durable stream. It also means the relay waits while a consumer retries: the inbox
Consumer keeps that wait bounded (a few tries, then the event is set aside; RetryPolicy).

Requests (`serve` / `request`) are calls to the responder registered in this process: the
embedded process is the only node, so a subject nobody here serves has no responder at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from chargepark.errors import BusUnavailable
from chargepark.events.bus import Handler, NoResponders, Responder, backoff_delay, check_subject

log = logging.getLogger(__name__)


class InProcessBus:
    def __init__(self, *, retry_base: float = 0.2, retry_cap: float = 10.0) -> None:
        self._subs: dict[str, list[tuple[str, Handler]]] = defaultdict(list)
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._open = False
        self._closing = asyncio.Event()
        self._responders: dict[str, Responder] = {}

    async def subscribe(self, consumer: str, event_types: Sequence[str], handler: Handler) -> None:
        for event_type in event_types:
            self._subs[event_type].append((consumer, handler))

    async def start(self) -> None:
        self._open = True

    def is_ready(self) -> bool:
        return self._open and not self._closing.is_set()

    async def publish(self, event_type: str, event_id: str, payload: bytes) -> None:
        if not self.is_ready():
            raise BusUnavailable("the in-process bus is not running")
        subscribers = self._subs.get(event_type, ())
        if not subscribers:
            return
        event: dict[str, Any] = json.loads(payload)
        await asyncio.gather(*(self._deliver(name, h, event) for name, h in subscribers))

    async def _deliver(self, consumer: str, handler: Handler, event: dict[str, Any]) -> None:
        attempt = 1
        while True:
            try:
                # Each consumer gets its own copy: a handler that mutates must not affect another.
                await handler(dict(event), attempt)
                return
            except Exception:
                log.warning(
                    "delivery failed; retrying",
                    exc_info=True,
                    extra={
                        "consumer": consumer,
                        "event_id": event.get("event_id"),
                        "attempt": attempt,
                    },
                )
            delay = backoff_delay(attempt, base=self._retry_base, cap=self._retry_cap)
            try:
                await asyncio.wait_for(self._closing.wait(), timeout=delay)
            except TimeoutError:
                attempt += 1
                continue
            raise BusUnavailable("the in-process bus closed before delivery succeeded")

    async def close(self) -> None:
        self._closing.set()
        self._open = False

    async def serve(self, subject: str, responder: Responder) -> None:
        check_subject(subject)
        if subject in self._responders:
            raise ValueError(f"{subject!r} is served already")
        self._responders[subject] = responder

    async def request(self, subject: str, data: bytes, timeout_sec: float) -> bytes:
        if not self.is_ready():
            raise BusUnavailable("the in-process bus is not running")
        responder = self._responders.get(subject)
        if responder is None:
            raise NoResponders(f"nobody serves {subject!r}")
        try:
            return await asyncio.wait_for(responder(data), timeout_sec)
        except TimeoutError:
            raise
        except Exception as exc:
            # As over NATS: a responder that fails sends no reply.
            log.exception("responder failed", extra={"subject": subject})
            raise TimeoutError(f"no reply to the request on {subject!r}") from exc
