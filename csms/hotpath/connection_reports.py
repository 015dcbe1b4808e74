"""The whole charger's status (EVSE 0, connector 0) as its connection comes and goes.

When a charger's socket closes csms reports it Offline; when one opens, Available again if
Offline is still what is kept. Nobody waits for these reports, and in a boot storm (thousands
of chargers connecting at once) or at shutdown (every socket closing) they come by the
thousand. Submitted one by one to the status writer they would fill its bounded queue, and the
chargers' own StatusNotifications would then be refused (Overloaded: a CALLERROR).

So they are kept here, the newest per charger (a charger that closed and opened again before
its Offline was written needs only its Available-if-Offline), and handed to the status writer
`window` at a time: at most that many of its queue's places are ever theirs, and each goes in
its batches with the charger's other reports, in order. One that fails for want of room or of
a database is kept and tried again after a pause; one for a charger removed from the registry
is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging

from chargepark.events.bus import backoff_delay
from csms.domain.chargers import UnknownCharger
from csms.hotpath.status_writer import ReportStatus, StatusWriter

log = logging.getLogger(__name__)


class ConnectionReports:
    def __init__(
        self,
        statuses: StatusWriter,
        *,
        window: int = 200,
        retry_base: float = 0.2,
        retry_cap: float = 5.0,
    ) -> None:
        self.statuses = statuses
        self.window = window
        self._retry = (retry_base, retry_cap)
        self._pending: dict[str, ReportStatus] = {}  # charger id -> its newest report
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    def report(self, report: ReportStatus) -> None:
        """Queue the report (replacing the charger's older one); never waits."""
        self._pending.pop(report.charger_id, None)  # to the back: oldest first stays true
        self._pending[report.charger_id] = report
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._write_forever(), name="csms-connection-reports"
            )

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        """Hand every queued report to the status writer once; returns how many failed (they
        are queued again, unless a newer report came meanwhile)."""
        while self._pending:
            ids = list(itertools.islice(self._pending, self.window))  # the oldest
            batch = [self._pending.pop(charger_id) for charger_id in ids]
            try:
                results = await asyncio.gather(
                    *(self.statuses.report(r) for r in batch), return_exceptions=True
                )
            except asyncio.CancelledError:  # written or not: a repeat changes nothing
                for r in batch:
                    self._pending.setdefault(r.charger_id, r)
                raise
            retry = [
                r
                for r, result in zip(batch, results, strict=True)
                if isinstance(result, Exception) and not isinstance(result, UnknownCharger)
            ]
            for r in retry:
                self._pending.setdefault(r.charger_id, r)
            if retry:
                first = next(e for e in results if isinstance(e, Exception))
                self.last_error = f"{type(first).__name__}: {first}"
                return len(retry)
        return 0

    async def close(self, drain_sec: float = 5.0) -> None:
        """Write what is queued (for up to `drain_sec` seconds), then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(drain_sec):
                while self._pending:
                    if await self.flush():
                        await asyncio.sleep(self._retry[0])
        if self._pending:
            log.warning(
                "connection status reports not written at shutdown",
                extra={"reports": len(self._pending), "error": self.last_error},
            )
            self._pending.clear()

    async def _write_forever(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            failed = await self.flush()
            if failed:
                failures += 1
                log.log(
                    logging.WARNING if failures == 1 else logging.DEBUG,
                    "connection status reports not written yet; retrying",
                    extra={"reports": failed, "error": self.last_error},
                )
                base, cap = self._retry
                await asyncio.sleep(backoff_delay(min(failures, 64), base=base, cap=cap))
                self._wake.set()
            else:
                failures = 0
