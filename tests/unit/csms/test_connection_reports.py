"""Connection reports (EVSE 0 Offline / Available-if-Offline) are coalesced per charger, take
at most `window` places of the status writer's queue, and are retried, never lost, when the
writer has no room; a removed charger's are dropped."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from chargepark.db.batcher import Overloaded
from csms.domain.chargers import UnknownCharger
from csms.hotpath.connection_reports import ConnectionReports
from csms.hotpath.status_writer import ReportStatus

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def offline(charger_id: str, second: int = 0) -> ReportStatus:
    at = T0 + timedelta(seconds=second)
    return ReportStatus(
        charger_id=charger_id,
        evse_id=0,
        connector_id=0,
        status="Offline",
        error_code=None,
        info="connection closed",
        at=at,
    )


def available(charger_id: str, second: int = 0) -> ReportStatus:
    at = T0 + timedelta(seconds=second)
    return ReportStatus(
        charger_id=charger_id,
        evse_id=0,
        connector_id=0,
        status="Available",
        error_code=None,
        info="connected",
        at=at,
        only_if="Offline",
    )


class Writer:
    """A status writer whose queue holds `room` reports; `removed` chargers are unknown."""

    def __init__(self, room: int = 10_000) -> None:
        self.room = room
        self.in_flight = 0
        self.most_in_flight = 0
        self.written: list[ReportStatus] = []
        self.removed: set[str] = set()

    async def report(self, cmd: ReportStatus) -> None:
        if self.in_flight >= self.room:
            raise Overloaded("status reports: queue full")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            if cmd.charger_id in self.removed:
                raise UnknownCharger(cmd.charger_id)
            self.written.append(cmd)
        finally:
            self.in_flight -= 1


async def settled(reports: ConnectionReports, writer: Writer, count: int) -> None:
    async with asyncio.timeout(5):
        while reports.pending or len(writer.written) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.005)


async def test_only_the_newest_report_of_a_charger_is_written():
    writer = Writer()
    reports = ConnectionReports(writer, window=50)  # type: ignore[arg-type]
    reports.report(offline("CP-1"))
    reports.report(available("CP-1", 1))  # back before its Offline was written
    reports.report(offline("CP-2"))
    await settled(reports, writer, 2)
    await reports.close()
    # Reports of different chargers are written concurrently: their order is not the point.
    assert sorted((r.charger_id, r.status) for r in writer.written) == [
        ("CP-1", "Available"),
        ("CP-2", "Offline"),
    ]


async def test_a_boot_storm_takes_at_most_a_window_of_the_writers_queue():
    writer = Writer()
    reports = ConnectionReports(writer, window=200)  # type: ignore[arg-type]
    for n in range(5_000):
        reports.report(available(f"CP-{n}"))
    await settled(reports, writer, 5_000)
    await reports.close()
    assert writer.most_in_flight == 200
    assert len({r.charger_id for r in writer.written}) == 5_000


async def test_without_room_reports_wait_and_are_written_later_and_removed_chargers_dropped(
    caplog,
):
    writer = Writer(room=30)
    writer.removed.add("CP-GONE")
    reports = ConnectionReports(writer, window=100, retry_base=0.01, retry_cap=0.02)  # type: ignore[arg-type]
    reports.report(offline("CP-GONE"))
    for n in range(99):
        reports.report(offline(f"CP-{n}"))
    with caplog.at_level(logging.DEBUG, logger="csms.hotpath.connection_reports"):
        await settled(reports, writer, 99)
    await reports.close()
    assert sorted(r.charger_id for r in writer.written) == sorted(f"CP-{n}" for n in range(99))
    retries = [r for r in caplog.records if r.getMessage().startswith("connection status")]
    assert retries and [r.levelno for r in retries].count(logging.WARNING) == 1


async def test_close_writes_what_is_queued_or_says_once_how_much_it_could_not(caplog):
    writer = Writer()
    reports = ConnectionReports(writer)  # type: ignore[arg-type]
    for n in range(10):
        reports.report(offline(f"CP-{n}"))
    await reports.close()
    assert len(writer.written) == 10

    stuck = Writer(room=0)  # the database is gone: nothing can be written
    reports = ConnectionReports(stuck, retry_base=0.01)  # type: ignore[arg-type]
    for n in range(1_000):
        reports.report(offline(f"CP-{n}"))
    with caplog.at_level(logging.WARNING, logger="csms.hotpath.connection_reports"):
        await reports.close(drain_sec=0.1)
    [said] = [r for r in caplog.records if "at shutdown" in r.getMessage()]
    assert said.reports == 1_000  # type: ignore[attr-defined]
    assert reports.pending == 0
