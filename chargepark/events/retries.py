"""The job that tries again the events a consumer set aside (chargepark.events.inbox).

One per service with a consumer, started and stopped with it. Each run takes one batch of the
events whose time has come, so that stopping the service waits for a bounded amount of work;
a backlog is worked off run by run. Several processes of a service may run it on one database:
each event is claimed before it is tried (Consumer.retry_due).
"""

from __future__ import annotations

import logging
from typing import Any

from chargepark.events.inbox import Consumer
from chargepark.scheduler import IntervalJob

log = logging.getLogger(__name__)


class EventRetries(IntervalJob):
    def __init__(self, consumer: Consumer[Any], *, every_sec: float = 1.0, batch: int = 20) -> None:
        super().__init__(f"{consumer.name}-event-retries", every_sec)
        self.consumer = consumer
        self.batch = batch

    async def work(self) -> None:
        taken = await self.consumer.retry_due(self.batch)
        if taken:
            log.debug("set-aside events tried again", extra={"job": self.name, "events": taken})
