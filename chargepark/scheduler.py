"""A service's periodic job: an APScheduler interval job started and stopped with the service.

One run at a time per process (max_instances=1, late runs coalesced into one); several
processes may run the same job, so a job's work must claim what it changes (row locks, leases).
A run that fails is logged and the next one tries again (a database down for a while).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from datetime import UTC

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)


class IntervalJob(ABC):
    """Subclasses implement `work`; `start` and `stop` make it a ServiceParts server."""

    def __init__(self, name: str, every_sec: float) -> None:
        self.name = name
        self.every_sec = every_sec
        self.scheduler: AsyncIOScheduler | None = None
        self._running: asyncio.Task[None] | None = None
        self._stopped = False

    @abstractmethod
    async def work(self) -> None:
        """One run's work; an exception is logged and the next run tries again."""

    async def start(self) -> None:
        self._stopped = False
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.add_job(
            self.run_once,
            IntervalTrigger(seconds=self.every_sec, timezone=UTC),
            id=self.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
        self.scheduler.start()

    async def stop(self) -> None:
        """No new run starts; one under way is let finish."""
        self._stopped = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # the shutdown runs on the loop's next turn
        self.scheduler = None
        task = self._running
        if task is not None and not task.done():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_once(self) -> None:
        if self._stopped:
            # Handed to the loop just before `stop`: started now it would outlive the service,
            # and be cancelled mid-work when the process ends (logged as a failed run).
            return
        self._running = asyncio.current_task()
        try:
            await self.work()
        except asyncio.CancelledError:
            # The process is ending mid-run (its loop cancels what is left): not a failed run,
            # and the scheduler would log it as one, with a traceback. The next start runs the
            # job again; the cancellation ends this task all the same.
            log.debug("job run cancelled", extra={"job": self.name})
        except Exception:
            log.exception("job run failed", extra={"job": self.name})
        finally:
            self._running = None
