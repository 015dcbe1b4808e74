"""Why a consumer's handler failed: a fault in the data or the code, or the moment.

A deterministic failure fails again on the same event whatever the wait: a value the database
cannot store (OverflowError from SQLite, SQLSTATE class 22 "data exception" from PostgreSQL, e.g.
numeric out of range or an integer beyond int64), a constraint the event breaks (class 23), a
statement the code got wrong (class 42), a handler's own ValueError, TypeError, KeyError, or a
ProgrammingError (chargepark.errors: a bug of ours, such as an event we produce that breaks its
schema). A ProgrammingError is never a business "rejected": it is retried and set aside.
Retrying it soon is pointless; it gets few quick tries (a unique violation may be a race lost to
a concurrent writer) and then waits in the retry store.

Anything else is transient until shown otherwise: a lost connection, a database that is down or
locked, a deadlock or serialization failure (class 40), a lock or statement timeout (55, 57), an
outage of a service the handler calls (an Unavailable, whatever its cause). It is retried
longer. Either way the event is set aside within the same bounded time; the kind only decides
how often and how long it is tried again.

Exceptions are matched by class and by SQLSTATE, never by message text. A driver's error is
wrapped (SQLAlchemy's DBAPIError around the driver's, around e.g. a builtin OverflowError), so
the whole chain of causes is read, outermost first, and the first telling one decides.

RetryPolicy says how many tries each kind gets before it is set aside, and in all.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import exc as sa_exc

from chargepark.errors import ProgrammingError, Unavailable
from chargepark.events.bus import backoff_delay

Failure = Literal["deterministic", "transient"]
DETERMINISTIC: Failure = "deterministic"
TRANSIENT: Failure = "transient"

# PostgreSQL SQLSTATE classes (PostgreSQL manual, appendix A) that no wait can fix: 21
# cardinality violation, 22 data exception, 23 integrity constraint violation, 2B dependent
# privilege descriptors still exist, 42 syntax error or access rule violation, 0A feature not
# supported, 44 WITH CHECK OPTION violation. The others (08 connection, 40 rollback, 53
# resources, 55 lock not available, 57 operator intervention, 58 system) are transient.
_DETERMINISTIC_SQLSTATE_CLASSES = frozenset({"21", "22", "23", "2B", "42", "0A", "44"})

_DETERMINISTIC_TYPES: tuple[type[BaseException], ...] = (
    ProgrammingError,  # a bug of ours: SchemaViolation among them
    ArithmeticError,  # OverflowError (SQLite's "int too large"), decimal.InvalidOperation
    ValueError,
    TypeError,
    LookupError,  # KeyError: the handler read a field the event does not have
    AttributeError,
    sa_exc.DataError,
    sa_exc.IntegrityError,  # the inbox's own duplicate is caught before it gets here
    sa_exc.ProgrammingError,
)
_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    Unavailable,  # a charger or another service failed or did not answer
    OSError,  # ConnectionError, TimeoutError among them
    sa_exc.OperationalError,  # SQLite's "database is locked", a connection refused
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # the connection pool's
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing event is tried, and when it is set aside.

    With the in-process bus's backoff (0.2 s doubling) an event holds the relay for at most
    0.2 s plus two handler runs (deterministic) or 0.2 + 0.4 + 0.8 s plus four runs (transient).
    From the retry store the tries are `retry_base` seconds apart, doubling up to `retry_cap`:
    a transient failure is tried for about half an hour, a deterministic one for 15 s.
    """

    deterministic_tries: int = 2  # a second try: an IntegrityError may be a race, lost once
    transient_tries: int = 4
    deterministic_max_attempts: int = 5
    max_attempts: int = 16
    retry_base: float = 2.0
    retry_cap: float = 300.0
    claim_sec: float = 60.0  # a try from the store holds its row this long (a crashed process)

    def tries_before_deferring(self, failure: Failure) -> int:
        return self.deterministic_tries if failure == DETERMINISTIC else self.transient_tries

    def attempts(self, failure: Failure) -> int:
        if failure == DETERMINISTIC:
            return min(self.deterministic_max_attempts, self.max_attempts)
        return self.max_attempts

    def delay(self, failure: Failure, attempt: int) -> float:
        """Seconds from a failed delivery number `attempt` to the next try from the store."""
        nth = max(1, attempt - self.tries_before_deferring(failure) + 1)
        return backoff_delay(nth, base=self.retry_base, cap=self.retry_cap)


def failure_kind(exc: BaseException) -> Failure:
    """The kind of a handler's failure; transient when nothing in its causes says otherwise."""
    for error in _causes(exc):
        if getattr(error, "connection_invalidated", False):
            return TRANSIENT
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and len(sqlstate) == 5:
            return DETERMINISTIC if sqlstate[:2] in _DETERMINISTIC_SQLSTATE_CLASSES else TRANSIENT
        if isinstance(error, _TRANSIENT_TYPES):
            return TRANSIENT
        if isinstance(error, _DETERMINISTIC_TYPES):
            return DETERMINISTIC
    return TRANSIENT


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # SQLAlchemy's DBAPIError keeps the driver's here
        if isinstance(orig, BaseException) and id(orig) not in seen:
            current = orig
        else:
            current = current.__cause__
