"""Idempotent consumers: the effect of an event and its inbox row commit together.

A redelivered event finds its inbox row and is acknowledged without a second effect. A
DomainError from a handler is a business "no": recorded as rejected and acknowledged. Any other
error is retried by the transport with backoff; after `max_attempts` the event is kept in
dead_letters and acknowledged, so one poisoned event cannot stall the stream. An event of a
schema version the consumer does not declare (`reads`, chargepark.events.contracts) is kept in
dead_letters at once.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError

from chargepark import tracing
from chargepark.db.uow import UnitOfWork
from chargepark.errors import DomainError
from chargepark.events.contracts import UNREADABLE, Reads
from chargepark.logging import correlation_id

log = logging.getLogger(__name__)

U = TypeVar("U", bound=UnitOfWork)
EventHandler = Callable[[dict[str, Any], U], Awaitable[None]]


class Consumer(Generic[U]):
    def __init__(
        self,
        name: str,
        uow: Callable[[], U],
        inbox: Table,
        dead_letters: Table,
        handlers: Mapping[str, EventHandler[U]],
        *,
        reads: Mapping[str, Reads],
        max_attempts: int = 8,
    ) -> None:
        missing = set(handlers) ^ set(reads)
        if missing:
            raise ValueError(f"{name}: declare what is read of each event handled: {missing}")
        self.name = name
        self.uow = uow
        self.inbox = inbox
        self.dead_letters = dead_letters
        self.handlers = dict(handlers)
        self.reads = dict(reads)
        self.max_attempts = max_attempts

    @property
    def event_types(self) -> list[str]:
        return sorted(self.handlers)

    async def deliver(self, event: dict[str, Any], attempt: int) -> None:
        """The bus handler. Returns when the event is done with; raises to be redelivered."""
        name = event.get("event", "")
        handler = self.handlers.get(name)
        if handler is None:
            return
        version = event.get("schema_version")
        if version not in self.reads[name].versions:
            await self._unreadable(event, version)
            return
        # The producer's correlation id follows the event into this service's logs and into
        # any event the handler emits in turn.
        token = correlation_id.set(event.get("correlation_id"))
        try:
            if tracing.enabled:  # a CONSUMER span, child of the span that emitted the event
                with tracing.consuming(self.name, event, attempt):
                    await self._handle(handler, event, attempt)
            else:
                await self._handle(handler, event, attempt)
        finally:
            correlation_id.reset(token)

    async def _handle(self, handler: EventHandler[U], event: dict[str, Any], attempt: int) -> None:
        try:
            await self._apply(handler, event)
        except DomainError as exc:
            log.info("event rejected", extra=self._ids(event) | {"reason": str(exc)})
            await self._record(event, "rejected")
        except Exception as exc:
            if attempt < self.max_attempts:
                raise
            log.error("event dead-lettered", exc_info=True, extra=self._ids(event))
            await self._dead_letter(event, exc, attempt)

    async def _apply(self, handler: EventHandler[U], event: dict[str, Any]) -> None:
        async with self.uow() as uow:
            try:
                await uow.session.execute(
                    insert(self.inbox), self._inbox_row(uow, event, "applied")
                )
            except IntegrityError:
                log.debug("duplicate event ignored", extra=self._ids(event))
                return
            await handler(event, uow)
            await uow.commit()

    async def _record(self, event: dict[str, Any], outcome: str) -> None:
        async with self.uow() as uow:
            try:
                await uow.session.execute(insert(self.inbox), self._inbox_row(uow, event, outcome))
                await uow.commit()
            except IntegrityError:
                pass

    async def _unreadable(self, event: dict[str, Any], version: Any) -> None:
        accepted = sorted(self.reads[event["event"]].versions)
        log.error(
            "event of an unreadable schema version dead-lettered",
            extra=self._ids(event) | {"version": version, "accepted": accepted},
        )
        UNREADABLE.labels(self.name, event["event"], str(version)).inc()
        reason = ValueError(f"schema version {version!r}; this consumer reads {accepted}")
        await self._dead_letter(event, reason, 0)

    async def _dead_letter(self, event: dict[str, Any], exc: Exception, attempts: int) -> None:
        async with self.uow() as uow:
            await uow.session.execute(
                insert(self.dead_letters),
                {
                    "consumer": self.name,
                    "event_id": event.get("event_id", ""),
                    "event_type": event.get("event", ""),
                    "payload": json.dumps(event),
                    "error": f"{type(exc).__name__}: {exc}"[:2000],
                    "attempts": attempts,
                    "failed_at": uow.clock.now(),
                },
            )
            await uow.commit()

    def _inbox_row(self, uow: UnitOfWork, event: dict[str, Any], outcome: str) -> dict[str, Any]:
        return {
            "consumer": self.name,
            "event_id": event["event_id"],
            "event_type": event["event"],
            "outcome": outcome,
            "processed_at": uow.clock.now(),
        }

    def _ids(self, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "consumer": self.name,
            "event_id": event.get("event_id"),
            "event": event.get("event"),
        }
