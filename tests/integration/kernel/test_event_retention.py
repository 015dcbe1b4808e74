"""Sent outbox rows and processed inbox rows are deleted after the retention; nothing else is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.errors import ConfigError
from chargepark.events.inprocess import InProcessBus
from chargepark.events.retention import EventRetention
from chargepark.platform.config import load_settings
from chargepark.platform.runtime import Platform
from tests.support import notes as n
from tests.support.outbox import SwitchableBus, wired
from tests.support.procs import free_port

WEEK = timedelta(days=7)


async def _published_and_consumed(db, clock, regnums: list[str]) -> None:
    bus = InProcessBus()
    service, relay, _ = await wired(db, bus, clock)
    await bus.start()
    for regnum in regnums:
        await service.park(regnum)
    while await relay.run_once():  # each event published and handled before the next pass
        pass
    await bus.close()


async def _rows(db, column) -> list:
    async with db.engine.connect() as conn:
        return sorted((await conn.execute(select(column))).scalars())


async def test_only_rows_sent_and_processed_before_the_retention_are_deleted(any_db, clock):
    await _published_and_consumed(any_db, clock, ["OLD1", "OLD2", "OLD3"])
    clock.advance(days=6)
    await _published_and_consumed(any_db, clock, ["RECENT"])
    # An event that could not go out: its row is kept however old it is.
    down = SwitchableBus(InProcessBus())
    service, _, _ = await wired(any_db, down, clock)
    unsent = await service.park("UNSENT")
    async with any_db.engine.begin() as conn:  # and a dead letter of that first week
        await conn.execute(
            insert(n.kernel.dead_letters).values(
                consumer="notes-consumer",
                event_id="e-dead",
                event_type="VehicleParked",
                payload="{}",
                error="boom",
                attempts=8,
                failed_at=clock.now() - timedelta(days=6),
            )
        )
    clock.advance(days=2)  # the first three are 8 days old, RECENT 2 days

    job = EventRetention("notes", any_db, n.kernel, clock, WEEK, batch=2)
    assert await job.prune() == {"outbox": 3, "inbox": 3}

    outbox_left = await _rows(any_db, n.kernel.outbox.c.event_id)
    assert len(outbox_left) == 2 and unsent["event_id"] in outbox_left
    assert len(await _rows(any_db, n.kernel.inbox.c.event_id)) == 1
    assert await _rows(any_db, n.kernel.dead_letters.c.event_id) == ["e-dead"]
    assert await job.prune() == {"outbox": 0, "inbox": 0}  # nothing more is old enough


def test_the_retention_is_a_whole_number_of_seconds_and_zero_keeps_everything():
    assert load_settings({}).events_retention_sec == 7 * 24 * 3600
    assert load_settings({"CHARGEPARK_EVENTS_RETENTION": "0"}).events_retention_sec == 0
    with pytest.raises(ConfigError, match="CHARGEPARK_EVENTS_RETENTION"):
        load_settings({"CHARGEPARK_EVENTS_RETENTION": "a week"})


@pytest.mark.parametrize("retention", ["3600", "0"])
async def test_each_service_runs_its_retention_job_unless_it_is_zero(tmp_path, retention):
    settings = load_settings(
        {"CHARGEPARK_EVENTS_RETENTION": retention, "CHARGEPARK_DATA_DIR": str(tmp_path)},
        {"http_port": free_port()},
        services=("parking",),
    )
    platform = Platform(settings, ("parking",), verifier=TokenVerifier(StaticJwks({"keys": []})))
    await platform.start()
    try:
        (job,) = [host.retention for host in platform.hosts]
        if retention == "0":
            assert job is None
        else:
            assert job is not None and job.retention == timedelta(hours=1)
            assert job.scheduler is not None and job.scheduler.get_job(job.name) is not None
    finally:
        await platform.stop()
