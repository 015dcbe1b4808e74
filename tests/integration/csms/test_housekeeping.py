"""The csms's periodic clean-ups: commands a restart cut short are settled, and one failing job
does not keep the others from running."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from csms.adapters.command_log import SqlCommandLog as CommandHistory
from csms.adapters.repository import CsmsUnitOfWork
from csms.adapters.tables import charger_commands, kernel
from csms.domain.chargers import BootInfo
from csms.ports.command_log import ABANDONED_AFTER_SEC
from csms.ports.gateway import MAX_TIMEOUT_SEC
from csms.services.chargers import ChargingService, RegisterCharger
from csms.services.housekeeping import Housekeeping
from tests.support import templates


async def test_commands_left_sent_by_a_restart_are_settled_as_timed_out(sqlite_db, clock):
    await templates.migrated("csms", sqlite_db)

    def uow() -> CsmsUnitOfWork:
        return CsmsUnitOfWork(sqlite_db, kernel.outbox, clock, lambda: None)

    service = ChargingService(uow, clock)
    await service.register(RegisterCharger(id="CP-1"))
    await service.boot("CP-1", BootInfo("ACME", "X"), "1.6")
    history = CommandHistory(sqlite_db)
    old = await history.open(
        "CP-1", "Reset", {"type": "Soft"}, requested_by=None, timeout_sec=30, at=clock.now()
    )
    clock.advance(seconds=MAX_TIMEOUT_SEC + ABANDONED_AFTER_SEC + 1)
    recent = await history.open(
        "CP-1", "ClearCache", {}, requested_by=None, timeout_sec=30, at=clock.now()
    )
    assert await history.settle_abandoned(clock.now()) == 1
    async with sqlite_db.engine.connect() as conn:
        rows = dict(
            (await conn.execute(select(charger_commands.c.id, charger_commands.c.status))).all()
        )
    assert rows == {old: "timeout", recent: "sent"}
    clock.advance(seconds=1)
    assert await history.settle_abandoned(clock.now() - timedelta(seconds=1)) == 0


async def test_a_failing_job_does_not_stop_the_others():
    ran = []

    async def broken() -> None:
        raise RuntimeError("database down")

    async def fine() -> None:
        ran.append("fine")

    await Housekeeping([broken, fine]).run_once()
    assert ran == ["fine"]
