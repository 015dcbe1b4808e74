"""The alert job: an APScheduler interval job inside the ops service, started and stopped with
it. Each run evaluates the enabled rules, sends the webhook deliveries that are due and takes a
new snapshot of the business gauges. One run at a time per process (max_instances=1, late runs
coalesced); several processes may run it (a rule is evaluated under its row lock, a delivery is
claimed before it is sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from ops.alerts import AlertService

log = logging.getLogger(__name__)
JOB_ID = "ops-alerts"


class AlertWorker:
    def __init__(
        self,
        alerts: AlertService,
        every_sec: float,
        after_run: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.alerts = alerts
        self.every_sec = every_sec
        self.after_run = after_run
        self.scheduler: AsyncIOScheduler | None = None
        self._running: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.add_job(
            self.run_once,
            IntervalTrigger(seconds=self.every_sec, timezone=UTC),
            id=JOB_ID,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self.scheduler.start()

    async def stop(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # the shutdown runs on the loop's next turn
        self.scheduler = None
        task = self._running
        if task is not None and not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.alerts.close()

    async def run_once(self) -> None:
        self._running = asyncio.current_task()
        try:
            for step in (self.alerts.evaluate_all, self.alerts.deliver_due, self.after_run):
                if step is None:
                    continue
                try:
                    await step()
                except Exception:  # the database may be down for a while: the next run retries
                    log.exception("alert job step failed", extra={"step": step.__name__})
        finally:
            self._running = None
