"""The event bus port. Two transports implement it: InProcessBus (embedded) and NatsBus.

Delivery is at least once. A handler that raises is redelivered with backoff; handlers are
expected to be idempotent (chargepark.events.inbox.Consumer makes them so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

# handler(event, attempt): attempt counts deliveries of this event to this consumer, from 1.
Handler = Callable[[dict[str, Any], int], Awaitable[None]]


class EventBus(Protocol):
    async def subscribe(self, consumer: str, event_types: Sequence[str], handler: Handler) -> None:
        """Register a durable consumer; call before start()."""

    async def start(self) -> None:
        """Connect and begin deliveries. Never fails because the bus is down: it keeps trying."""

    async def publish(self, event_type: str, event_id: str, payload: bytes) -> None:
        """Store one event on the bus; raises BusUnavailable when that is not confirmed."""

    def is_ready(self) -> bool: ...

    async def close(self) -> None: ...


def backoff_delay(attempt: int, *, base: float = 0.2, cap: float = 30.0) -> float:
    """Seconds to wait before delivery number `attempt + 1`: doubling from `base`, capped."""
    # The exponent is bounded: a relay counting failures through a long outage must not
    # overflow a float after a thousand attempts.
    return min(cap, base * (2 ** min(max(0, attempt - 1), 32)))
