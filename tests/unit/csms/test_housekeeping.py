"""The csms's periodic clean-ups: one failing job does not keep the others from running, and
commands a restart cut short are settled (here on the in-memory command log)."""

from __future__ import annotations

from csms.ports.command_log import ABANDONED_AFTER_SEC
from csms.ports.gateway import MAX_TIMEOUT_SEC, CommandStatus
from csms.services.housekeeping import Housekeeping
from tests.support.fakes.csms.command_log import InMemoryCommandLog


async def test_a_failing_job_does_not_stop_the_others(clock):
    ran = []

    async def broken() -> None:
        raise RuntimeError("database down")

    async def fine() -> None:
        ran.append("fine")

    log = InMemoryCommandLog({"CP-1"})
    await log.open("CP-1", "Reset", {}, requested_by=None, timeout_sec=30, at=clock.now())
    clock.advance(seconds=MAX_TIMEOUT_SEC + ABANDONED_AFTER_SEC + 1)

    async def settle() -> None:
        await log.settle_abandoned(clock.now())

    await Housekeeping([broken, fine, settle]).run_once()
    assert ran == ["fine"] and log.records[1].status is CommandStatus.TIMEOUT
