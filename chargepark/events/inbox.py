"""Idempotent consumers: the effect of an event and its inbox row commit together.

A redelivered event finds its inbox row and is acknowledged without a second effect. A
DomainError from a handler is a business "no": recorded as rejected and acknowledged. A
ProgrammingError (a SchemaViolation among them) is a bug, not a "no": it fails like any other
error below, so the event is retried and set aside, never lost as "rejected". An event
of a schema version the consumer does not declare (`reads`, chargepark.events.contracts) is kept
in dead_letters at once.

Any other error must not hold back the events behind it (on the in-process bus the relay waits
for every consumer; over NATS a message in flight counts against the durable), so the bound is
kept here, the same for every transport. The failure is classified (chargepark.events.failures):
a deterministic one gets `deterministic_tries` deliveries from the transport, a transient one
`transient_tries` (RetryPolicy); then the event is set aside in the consumer's retry store
(event_retries, in its own database) and acknowledged. EventRetries (chargepark.events.retries)
tries it again from there with backoff; after `max_attempts` deliveries in all it goes to
dead_letters for good, logged at ERROR and counted in chargepark_events_dead_lettered_total
(alerted on). A crash loses nothing: the event is acknowledged only once its effect, its
rejection, its retry row or its dead letter is committed, and a retry row is deleted in the
transaction that settles it.

Order: an event set aside is applied after events published later, also of the same aggregate.
Every consumer is written for that already (NATS delivers each event type on its own durable,
and a nak'd message is redelivered behind later ones): their writes are upserts keyed by what
the event is about and guarded by event time, so a late event is applied as if on time
(parking/consumers.py, ops/consumers.py, csms/consumers.py, billing/domain/visits.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any, Generic, TypeVar, cast

from prometheus_client import Counter
from sqlalchemy import CursorResult, Row, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from chargepark import tracing
from chargepark.db.uow import UnitOfWork
from chargepark.errors import DomainError
from chargepark.events.contracts import UNREADABLE, Reads
from chargepark.events.failures import DETERMINISTIC, Failure, RetryPolicy, failure_kind
from chargepark.logging import correlation_id

log = logging.getLogger(__name__)

U = TypeVar("U", bound=UnitOfWork)
EventHandler = Callable[[dict[str, Any], U], Awaitable[None]]

DEFERRED = Counter(
    "chargepark_events_deferred_total",
    "Events a consumer failed on and set aside in its retry store, the flow going on",
    ["consumer", "event", "failure"],
)
DEAD_LETTERED = Counter(
    "chargepark_events_dead_lettered_total",
    "Events a consumer gave up on after its retries, kept in dead_letters for an operator",
    ["consumer", "event"],
)


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
        retries: Table | None = None,
        policy: RetryPolicy | None = None,
        max_attempts: int | None = None,
    ) -> None:
        missing = set(handlers) ^ set(reads)
        if missing:
            raise ValueError(f"{name}: declare what is read of each event handled: {missing}")
        self.name = name
        self.uow = uow
        self.inbox = inbox
        self.dead_letters = dead_letters
        # Without a retry store every try is the transport's: the events behind wait.
        self.retries = retries
        self.handlers = dict(handlers)
        self.reads = dict(reads)
        policy = policy or RetryPolicy()
        if max_attempts is not None:
            policy = replace(policy, max_attempts=max_attempts)
        self.policy = policy

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
        with self._context(event, attempt):
            await self._handle(handler, event, attempt)

    async def retry_due(self, limit: int = 20) -> int:
        """Tries again up to `limit` events of the retry store whose time has come; returns how
        many it took. Each is claimed first, so processes sharing the database share the work."""
        if self.retries is None:
            return 0
        t = self.retries
        async with self.uow() as uow:
            now = uow.clock.now()
            query = (
                select(t)
                .where(t.c.consumer == self.name, t.c.next_at <= now)
                .order_by(t.c.next_at)
                .limit(limit)
            )
            rows = (await uow.session.execute(query)).all()
        taken = 0
        for row in rows:
            if await self._claim(row):
                taken += 1
                await self._retry(row)
        return taken

    # -- one delivery ------------------------------------------------------------------------

    async def _handle(self, handler: EventHandler[U], event: dict[str, Any], attempt: int) -> None:
        exc = await self._try(handler, event)
        if exc is None:
            return
        failure = failure_kind(exc)
        if attempt >= self.policy.attempts(failure):
            await self._give_up(event, exc, failure, attempt)
        elif self.retries is not None and attempt >= self.policy.tries_before_deferring(failure):
            await self._defer(event, exc, failure, attempt)
        else:
            raise exc  # the transport delivers it again after its backoff

    async def _try(
        self, handler: EventHandler[U], event: dict[str, Any], *, settles: bool = False
    ) -> Exception | None:
        """Apply the event; a DomainError is a business "no", recorded as rejected. Returns any
        other failure, for the caller to retry, set aside or give up on."""
        try:
            await self._apply(handler, event, settles=settles)
        except DomainError as exc:
            log.info("event rejected", extra=self._ids(event) | {"reason": str(exc)})
            await self._record(event, "rejected")
        except Exception as exc:
            return exc
        return None

    async def _apply(
        self, handler: EventHandler[U], event: dict[str, Any], *, settles: bool = False
    ) -> None:
        """Handler and inbox row in one transaction; `settles` deletes the event's retry row
        in it too."""
        async with self.uow() as uow:
            try:
                await uow.session.execute(
                    insert(self.inbox), self._inbox_row(uow, event, "applied")
                )
            except IntegrityError:
                log.debug("duplicate event ignored", extra=self._ids(event))
            else:
                await handler(event, uow)
                if settles:
                    await self._forget(uow, event)
                await uow.commit()
                return
        if settles:  # applied before (a redelivery by the transport): only the row is left
            async with self.uow() as uow:
                await self._forget(uow, event)
                await uow.commit()

    async def _record(self, event: dict[str, Any], outcome: str) -> None:
        async with self.uow() as uow:
            try:
                await uow.session.execute(insert(self.inbox), self._inbox_row(uow, event, outcome))
            except IntegrityError:
                return
            await self._forget(uow, event)
            await uow.commit()

    # -- the retry store ---------------------------------------------------------------------

    async def _defer(
        self, event: dict[str, Any], exc: Exception, failure: Failure, attempt: int
    ) -> None:
        assert self.retries is not None
        if not isinstance(event.get("event_id"), str) or not isinstance(event.get("event"), str):
            await self._give_up(event, exc, failure, attempt)  # nothing to key a retry row on
            return
        delay = self.policy.delay(failure, attempt)
        try:
            async with self.uow() as uow:
                now = uow.clock.now()
                row = {
                    "consumer": self.name,
                    "event_id": event["event_id"],
                    "event_type": event["event"],
                    "payload": json.dumps(event),
                    "failure": failure,
                    "error": _error(exc),
                    "attempts": attempt,
                    "deferred_at": now,
                    "next_at": now + timedelta(seconds=delay),
                }
                await uow.session.execute(insert(self.retries), row)
                await uow.commit()
        except IntegrityError:
            # A redelivery of an event that waits there already: its schedule stands.
            log.info("event already set aside", extra=self._ids(event) | {"attempt": attempt})
            return
        DEFERRED.labels(self.name, event["event"], failure).inc()
        log.warning(
            "event set aside for a later retry",
            exc_info=exc,
            extra=self._ids(event) | {"failure": failure, "attempt": attempt, "retry_in": delay},
        )

    async def _claim(self, row: Row[Any]) -> bool:
        assert self.retries is not None
        t = self.retries
        async with self.uow() as uow:
            claimed_until = uow.clock.now() + timedelta(seconds=self.policy.claim_sec)
            result = cast(  # an UPDATE's result is a CursorResult: it has the rowcount
                CursorResult[Any],
                await uow.session.execute(
                    update(t)
                    .where(
                        t.c.consumer == row.consumer,
                        t.c.event_id == row.event_id,
                        t.c.next_at == row.next_at,
                    )
                    .values(next_at=claimed_until)
                ),
            )
            await uow.commit()
        return bool(result.rowcount)

    async def _retry(self, row: Row[Any]) -> None:
        event: dict[str, Any] = json.loads(row.payload)
        attempt = row.attempts + 1
        handler = self.handlers.get(row.event_type)
        if handler is None:  # this consumer no longer handles that type
            reason = LookupError(f"no handler for {row.event_type} any more")
            await self._give_up(event, reason, DETERMINISTIC, attempt)
            return
        with self._context(event, attempt):
            exc = await self._try(handler, event, settles=True)
            if exc is not None:
                failure = failure_kind(exc)
                if attempt >= self.policy.attempts(failure):
                    await self._give_up(event, exc, failure, attempt)
                else:
                    await self._reschedule(event, exc, failure, attempt)
                return
        log.info("set-aside event settled", extra=self._ids(event) | {"attempt": attempt})

    async def _reschedule(
        self, event: dict[str, Any], exc: Exception, failure: Failure, attempt: int
    ) -> None:
        assert self.retries is not None
        t = self.retries
        delay = self.policy.delay(failure, attempt)
        async with self.uow() as uow:
            await uow.session.execute(
                update(t)
                .where(t.c.consumer == self.name, t.c.event_id == event["event_id"])
                .values(
                    failure=failure,
                    error=_error(exc),
                    attempts=attempt,
                    next_at=uow.clock.now() + timedelta(seconds=delay),
                )
            )
            await uow.commit()
        log.warning(
            "set-aside event failed again",
            exc_info=exc,
            extra=self._ids(event) | {"failure": failure, "attempt": attempt, "retry_in": delay},
        )

    async def _forget(self, uow: U, event: dict[str, Any]) -> None:
        if self.retries is not None:
            t = self.retries
            await uow.session.execute(
                delete(t).where(t.c.consumer == self.name, t.c.event_id == event["event_id"])
            )

    # -- giving up ---------------------------------------------------------------------------

    async def _give_up(
        self, event: dict[str, Any], exc: Exception, failure: Failure, attempt: int
    ) -> None:
        log.error(
            "event dead-lettered",
            exc_info=exc,
            extra=self._ids(event) | {"failure": failure, "attempts": attempt},
        )
        await self._dead_letter(event, exc, attempt)
        DEAD_LETTERED.labels(self.name, event.get("event", "")).inc()

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
                    "error": _error(exc),
                    "attempts": attempts,
                    "failed_at": uow.clock.now(),
                },
            )
            if event.get("event_id"):
                await self._forget(uow, event)
            await uow.commit()

    # -- helpers -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _context(self, event: dict[str, Any], attempt: int) -> Iterator[None]:
        # The producer's correlation id follows the event into this service's logs and into
        # any event the handler emits in turn.
        token = correlation_id.set(event.get("correlation_id"))
        try:
            if tracing.enabled:  # a CONSUMER span, child of the span that emitted the event
                with tracing.consuming(self.name, event, attempt):
                    yield
            else:
                yield
        finally:
            correlation_id.reset(token)

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


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
