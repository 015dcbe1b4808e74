"""How the simulators ride out an outage of the platform: which failures of a REST call are
worth another try, how long to wait before it, and for how long to keep trying.

A call is tried again on a refused or dropped connection, a timeout, and the answers that say
"not now": 408, 429, 502, 503, 504. The wait is the server's `Retry-After` when it gives one
(RFC 9110 10.2.3: seconds or an HTTP date; capped), else an exponential back-off with jitter,
and the call gives up once its deadline has passed. Other 4xx are answers, never retried.

Whether a failed call may simply be sent again depends on whether it may have taken effect
(see `Failure.maybe_applied`) and on the method: RFC 9110 9.2.2 makes GET, HEAD, OPTIONS, PUT
and DELETE idempotent; a POST or PATCH that may have been applied is only sent again after
its caller has checked the state (PlatformClient.request's `reconcile`).
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})  # RFC 9110 9.2.2
TRANSIENT_STATUSES = frozenset({408, 429, 502, 503, 504})
# Answers that say the request was not acted on: 408 (RFC 9110 15.5.9, the server gave up
# before the request was complete) and 429 (RFC 6585 4, refused by a rate limit before it
# reached a service). A 502, 503 or 504 may come after the service committed (a gateway that
# lost the answer, a commit that timed out), so they count as "may have been applied".
NOT_APPLIED_STATUSES = frozenset({408, 429})

# The deadline of the call being made: a call made while another is being retried (a state
# check before a POST is sent again) ends no later than the outer one.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "simulators_retry_deadline", default=None
)


@dataclass(frozen=True)
class Failure:
    """One failed try: `cause` as counted in the run's summary ("connection refused",
    "HTTP 502", ...), whether the request may have been applied, and the server's wait."""

    cause: str
    maybe_applied: bool
    retry_after: float | None = None


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """`Retry-After` (RFC 9110 10.2.3) as seconds from `now`: delay-seconds or an HTTP-date;
    None when absent or unreadable (the back-off applies then)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        at = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if at.tzinfo is None:  # RFC 9110 5.6.7: an HTTP-date is always GMT
        at = at.replace(tzinfo=UTC)
    return max(0.0, (at - now).total_seconds())


@dataclass
class RetryPolicy:
    """`deadline`: seconds a call keeps trying (from its first try). `base` doubles per try up
    to `cap`, each wait drawn between half of it and all of it (jitter, so clients refused
    together do not come back together); a `Retry-After` is honoured up to `retry_after_cap`
    (a longer one ends the call when it would pass the deadline). `sleep`, `monotonic`,
    `wall` and `random` are injected by tests."""

    deadline: float = 60.0
    base: float = 0.25
    cap: float = 8.0
    retry_after_cap: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    monotonic: Callable[[], float] = time.monotonic
    wall: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    random: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if self.deadline < 0 or self.base <= 0 or self.cap < self.base:
            raise ValueError("retry: deadline >= 0, 0 < base <= cap")

    def backoff(self, attempt: int) -> float:
        """The wait after try number `attempt` (1, 2, ...) when the server names none."""
        ceiling = min(self.cap, self.base * 2 ** min(max(attempt - 1, 0), 32))
        return ceiling * (0.5 + self.random() / 2)

    def wait(self, attempt: int, failure: Failure) -> float:
        backoff = self.backoff(attempt)
        if failure.retry_after is None:
            return backoff
        # At least what the server asked for (RFC 6585 4); more once the back-off has grown
        # past it, so a limit that keeps refusing is not hammered every second.
        return max(min(failure.retry_after, self.retry_after_cap), backoff)

    def ends_at(self) -> float:
        own = self.monotonic() + self.deadline
        outer = _deadline.get()
        return own if outer is None else min(own, outer)


def within(deadline: float) -> contextvars.Token[float | None]:
    """Calls made from here on end no later than `deadline` (monotonic); undo with `reset`."""
    return _deadline.set(deadline)


def reset(token: contextvars.Token[float | None]) -> None:
    _deadline.reset(token)


@dataclass
class RetryStats:
    """What the simulator rode out: tries again by cause, and calls that gave up."""

    retries: Counter[str] = field(default_factory=Counter)
    gave_up: int = 0
    reconciled: int = 0  # non-idempotent calls found applied by a state check

    @property
    def total(self) -> int:
        return sum(self.retries.values())

    def describe(self) -> str:
        if not self.total and not self.gave_up:
            return "none"
        causes = ", ".join(f"{n} {cause}" for cause, n in self.retries.most_common())
        parts = [f"{self.total} retried ({causes})" if self.total else "0 retried"]
        if self.reconciled:
            parts.append(f"{self.reconciled} found applied after a lost answer")
        if self.gave_up:
            parts.append(f"{self.gave_up} gave up")
        return "; ".join(parts)
