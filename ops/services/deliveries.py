"""Webhook deliveries of incident changes.

Deliveries are POSTed in order per incident, retried with exponential backoff until the receiver
answers 2xx or the attempts run out; the receiver may see a delivery twice (a crash between its
answer and our commit) and can drop repeats by the `event_id` in the body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from chargepark.clock import Clock
from ops.domain.alerts import DELIVERED, FAILED, Delivery
from ops.ports import AlertReads, OpsUnitOfWork, WebhookSender

log = logging.getLogger("ops.alerts")

# A claimed delivery is left to its claimer this long before another process may try it.
DELIVERY_LEASE = timedelta(seconds=60)
DELIVERY_BATCH = 100
DELIVERY_ROUNDS = 5


class WebhookDeliveries:
    def __init__(
        self,
        uow: Callable[[], OpsUnitOfWork],
        reads: AlertReads,
        sender: WebhookSender,
        clock: Clock,
        *,
        max_attempts: int = 12,
        retry_base_sec: float = 5.0,
        retry_max_sec: float = 600.0,
    ) -> None:
        self.uow = uow
        self.reads = reads
        self.sender = sender
        self.clock = clock
        self.max_attempts = max_attempts
        self.retry_base_sec = retry_base_sec
        self.retry_max_sec = retry_max_sec

    def backoff(self, attempts: int) -> timedelta:
        delay = min(self.retry_base_sec * 2 ** max(0, attempts - 1), self.retry_max_sec)
        return timedelta(seconds=delay)

    async def deliver_due(self) -> int:
        """Sends the deliveries whose time has come (none of an incident while an earlier one of
        it is pending: a delivery taken lets the next of its incident go in the next round);
        returns how many the receiver took."""
        delivered = 0
        for _round in range(DELIVERY_ROUNDS):
            taken = await self._deliver_round()
            delivered += taken
            if not taken:
                break
        return delivered

    async def _deliver_round(self) -> int:
        now = self.clock.now()
        delivered = 0
        for delivery in await self.reads.due_deliveries(now, DELIVERY_BATCH):
            if not await self._claim(delivery, now):
                continue
            ok, outcome = await self.sender.send(
                delivery.url,
                delivery.payload,
                {
                    "X-Chargepark-Event": delivery.event_type,
                    "X-Chargepark-Event-Id": delivery.event_id,
                },
            )
            await self._record(delivery, ok, outcome)
            delivered += ok
        return delivered

    async def _claim(self, delivery: Delivery, now: datetime) -> bool:
        async with self.uow() as uow:
            claimed = await uow.deliveries.claim(delivery, now + DELIVERY_LEASE)
            await uow.commit()
            return claimed

    async def _record(self, delivery: Delivery, ok: bool, outcome: str) -> None:
        now = self.clock.now()
        attempts = delivery.attempts + 1
        after = delivery.attempted(ok, outcome, now, self.max_attempts, self.backoff(attempts))
        if after.state == FAILED:
            log.error(
                "alert webhook delivery gave up",
                extra={"event_id": delivery.event_id, "attempts": attempts, "error": outcome},
            )
        elif after.state != DELIVERED:
            log.warning(
                "alert webhook delivery failed; will retry",
                extra={"event_id": delivery.event_id, "attempts": attempts, "error": outcome},
            )
        async with self.uow() as uow:
            await uow.deliveries.save(after)
            await uow.commit()

    async def close(self) -> None:
        await self.sender.close()
