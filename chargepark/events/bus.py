"""The event bus port. Two transports implement it: InProcessBus (embedded) and NatsBus.

Delivery is at least once. A handler that raises is redelivered with backoff; handlers are
expected to be idempotent (chargepark.events.inbox.Consumer makes them so) and to return within
a bounded time: the Consumer sets an event that keeps failing aside after a few tries, so that
the events behind it are not held back (on the in-process bus, publish waits for the handlers).

Besides events, the bus carries requests to one process and its reply (`serve` / `request`),
e.g. a csms node asking the node that holds a charger's socket to send it a command. These are
not events: nothing is stored, nothing is retried; a request either gets its answer in time or
fails, and the caller decides what that means.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

# handler(event, attempt): attempt counts deliveries of this event to this consumer, from 1.
Handler = Callable[[dict[str, Any], int], Awaitable[None]]
# responder(request) -> reply, for `serve`.
Responder = Callable[[bytes], Awaitable[bytes]]


class NoResponders(Exception):
    """Nobody serves the subject of a request: it reached no one, nothing was done."""


class EventBus(Protocol):
    async def subscribe(self, consumer: str, event_types: Sequence[str], handler: Handler) -> None:
        """Register a durable consumer; call before start()."""

    async def start(self) -> None:
        """Connect and begin deliveries. Never fails because the bus is down: it keeps trying."""

    async def publish(self, event_type: str, event_id: str, payload: bytes) -> None:
        """Store one event on the bus; raises BusUnavailable when that is not confirmed."""

    def is_ready(self) -> bool: ...

    async def close(self) -> None: ...

    async def serve(self, subject: str, responder: Responder) -> None:
        """Answer the requests sent to `subject` (dot-separated tokens, no wildcards) with
        `responder`, from now on or from start(). Requests are answered concurrently. A
        responder that raises is logged and sends no reply (the requester's request fails as
        if it timed out): responders are expected to put every expected ending in the reply."""

    async def request(self, subject: str, data: bytes, timeout_sec: float) -> bytes:
        """Send one request to whoever serves `subject` and return its reply. Raises
        NoResponders when nobody serves it (nothing was delivered), TimeoutError when no reply
        came within `timeout_sec` seconds (it may have been acted on), BusUnavailable when the bus
        is not connected (nothing was sent)."""


_NOT_IN_SUBJECTS = frozenset(">* /\\\t\r\n")


def check_subject(subject: str) -> None:
    """A request subject is dot-separated tokens without NATS wildcards or spaces."""
    if not subject or any(
        not token or _NOT_IN_SUBJECTS & set(token) for token in subject.split(".")
    ):
        raise ValueError(f"invalid request subject {subject!r}")


def backoff_delay(attempt: int, *, base: float = 0.2, cap: float = 30.0) -> float:
    """Seconds to wait before delivery number `attempt + 1`: doubling from `base`, capped."""
    # The exponent is bounded: a relay counting failures through a long outage must not
    # overflow a float after a thousand attempts.
    return min(cap, base * (2 ** min(max(0, attempt - 1), 32)))
