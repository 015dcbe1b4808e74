"""The alert job, inside the ops service (chargepark.scheduler.IntervalJob). Each run
evaluates the enabled rules, sends the webhook deliveries that are due and takes a new snapshot
of the business gauges. Several processes may run it (a rule is evaluated under its row lock, a
delivery is claimed before it is sent).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from chargepark.scheduler import IntervalJob
from ops.services.alerts import AlertService

log = logging.getLogger(__name__)
JOB_ID = "ops-alerts"


class AlertWorker(IntervalJob):
    def __init__(
        self,
        alerts: AlertService,
        every_sec: float,
        after_run: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(JOB_ID, every_sec)
        self.alerts = alerts
        self.after_run = after_run

    async def stop(self) -> None:
        await super().stop()
        await self.alerts.close()

    async def work(self) -> None:
        # Each step on its own: a failing one does not keep the others from running.
        for step in (self.alerts.evaluate_all, self.alerts.deliver_due, self.after_run):
            if step is None:
                continue
            try:
                await step()
            except Exception:  # the database may be down for a while: the next run retries
                log.exception("alert job step failed", extra={"step": step.__name__})
