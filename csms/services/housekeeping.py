"""The csms's periodic clean-ups, run every few seconds for as long as the service runs: remote
starts no transaction took, commands a restart cut short, and this node's shared presence rows
out of step with its sockets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

log = logging.getLogger(__name__)


class Housekeeping:
    def __init__(
        self, jobs: Sequence[Callable[[], Awaitable[object]]], every_sec: float = 15.0
    ) -> None:
        self.jobs = list(jobs)
        self.every_sec = every_sec
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="csms-housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> None:
        for job in self.jobs:
            try:
                await job()
            except Exception:  # the database may be down for a while: next round
                log.exception(
                    "housekeeping job failed", extra={"job": getattr(job, "__name__", "")}
                )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_sec)
            await self.run_once()
