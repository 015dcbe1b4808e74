"""The billing job: an APScheduler interval job inside the billing service, started and stopped
with it. Each run invoices the visits that are due and has the provider issue and collect the
open invoices whose (re)try time has come. One run at a time per process (max_instances=1, late
runs coalesced); several processes may run it: a visit is invoiced under its row lock, and an
invoice is claimed before a provider call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from billing.service import BillingService

log = logging.getLogger(__name__)
JOB_ID = "billing-cycle"


class BillingWorker:
    def __init__(self, service: BillingService, every_sec: float) -> None:
        self.service = service
        self.every_sec = every_sec
        self.scheduler: AsyncIOScheduler | None = None
        self._running: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.service.ensure_default_tariff()
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

    async def run_once(self) -> None:
        self._running = asyncio.current_task()
        try:
            await self.service.run_cycle()
        except Exception:  # the database may be down for a while: the next run tries again
            log.exception("billing job failed")
        finally:
            self._running = None
