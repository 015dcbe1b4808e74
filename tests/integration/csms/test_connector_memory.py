"""The status writer's in-memory connector state: used instead of a read per batch, and read
afresh from the database whenever it could have changed elsewhere (REST change or removal, a
boot, a (re)connect, a failed batch). Every change still gets its event, in the same commit."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import asyncpg
import pytest
import sqlalchemy.exc
from sqlalchemy import delete, func, select, text, update

from chargepark.db.group_commit import GroupCommitWriter
from csms.adapters.tables import chargers, connectors, kernel, metadata, meter_samples
from csms.adapters.telemetry import TelemetryOutbox
from csms.domain.chargers import BootInfo, UnknownCharger
from csms.services.chargers import ChargingService, RegisterCharger
from tests.conftest import T0
from tests.support.hot_path import (
    Units,
    status,
    status_events,
    stored_connectors,
)

INFO = BootInfo("ACME", "AC-22")


@pytest.fixture
async def units(any_db, clock) -> Units:
    async with any_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return Units(any_db, clock)


async def set_stored(db, charger_id: str, state: str) -> None:
    """A change the status writer is not told of (e.g. made through another node)."""
    async with db.engine.begin() as conn:
        await conn.execute(
            update(connectors).where(connectors.c.charger_id == charger_id).values(status=state)
        )


async def served(units, clock) -> ChargingService:
    service = ChargingService(units, clock)
    await service.register(RegisterCharger(id="CP-1"))
    await service.report_status(status("CP-1", "Charging"))
    assert service.statuses.cached("CP-1")[(1, 1)].status == "Charging"
    return service


async def test_reports_are_decided_against_memory_not_a_read_per_batch(units, clock, any_db):
    service = await served(units, clock)
    await set_stored(any_db, "CP-1", "Faulted")  # behind the writer's back
    await service.report_status(status("CP-1", "Charging", seconds=1))
    # Decided against memory (Charging): a repeat, no event; the row is written all the same.
    assert await status_events(any_db) == [("CP-1", 1, "Charging")]
    assert await stored_connectors(any_db) == {("CP-1", 1): "Charging"}


@pytest.mark.parametrize("how", ["connect", "disconnect", "boot", "change"])
async def test_memory_is_read_again_after_a_connect_a_boot_or_a_registry_change(
    units, clock, any_db, how
):
    service = await served(units, clock)
    await set_stored(any_db, "CP-1", "Faulted")
    if how == "connect":
        service.connected("CP-1")  # e.g. back from another node, which wrote meanwhile
    elif how == "disconnect":
        service.disconnected("CP-1")
    elif how == "boot":
        await service.boot("CP-1", INFO, "1.6")
    else:
        from csms.services.chargers import ChangeCharger

        await service.change(ChangeCharger("CP-1", {"tariff_id": "T-2"}))
    assert service.statuses.cached("CP-1") is None
    await service.report_status(status("CP-1", "Charging", seconds=1))
    # Read afresh (Faulted): Charging is a change again, with its event. (A disconnect also
    # reports the charger as a whole, EVSE 0, Offline.)
    events = [e for e in await status_events(any_db) if e[1] != 0]
    assert events == [("CP-1", 1, "Charging"), ("CP-1", 1, "Charging")]


async def test_a_removed_and_registered_again_charger_starts_from_no_state(units, clock, any_db):
    service = await served(units, clock)
    await service.remove("CP-1")
    with pytest.raises(UnknownCharger):
        await service.report_status(status("CP-1", "Charging", seconds=1))
    await service.register(RegisterCharger(id="CP-1"))
    await service.report_status(status("CP-1", "Charging", seconds=2))
    assert await status_events(any_db) == [("CP-1", 1, "Charging"), ("CP-1", 1, "Charging")]
    assert await stored_connectors(any_db) == {("CP-1", 1): "Charging"}


async def test_a_charger_removed_through_another_node_is_refused_and_forgotten(
    units, clock, any_db
):
    service = await served(units, clock)
    await service.register(RegisterCharger(id="CP-2"))
    async with any_db.engine.begin() as conn:  # another node's REST: this one is not told
        await conn.execute(delete(connectors).where(connectors.c.charger_id == "CP-1"))
        await conn.execute(delete(chargers).where(chargers.c.id == "CP-1"))
    results = await asyncio.gather(
        service.report_status(status("CP-1", "Faulted", seconds=1)),
        service.report_status(status("CP-2", "Available", seconds=1)),
        return_exceptions=True,
    )
    # The batch broke the foreign key; retried alone, CP-1 is read afresh and refused, and
    # CP-2's report in the same batch still committed.
    assert isinstance(results[0], UnknownCharger) and results[1] is None
    assert service.statuses.cached("CP-1") is None
    assert await stored_connectors(any_db) == {("CP-2", 1): "Available"}
    assert await status_events(any_db) == [("CP-1", 1, "Charging"), ("CP-2", 1, "Available")]


async def test_a_charger_forgotten_while_its_batch_runs_is_not_put_back(units, clock, any_db):
    service = await served(units, clock)
    pending = asyncio.ensure_future(service.report_status(status("CP-1", "Faulted", seconds=1)))
    for _ in range(100):  # until the batch has started: its result may be stale now
        if service.statuses._forgotten:
            break
        await asyncio.sleep(0)
    assert service.statuses._forgotten
    service.connected("CP-1")
    await pending
    assert service.statuses.cached("CP-1") is None
    await service.report_status(status("CP-1", "Faulted", seconds=2))  # read: a repeat
    assert await status_events(any_db) == [("CP-1", 1, "Charging"), ("CP-1", 1, "Faulted")]


async def test_each_change_has_its_event_with_the_state_in_the_same_commit(units, clock, any_db):
    service = ChargingService(units, clock)
    ids = [f"CP-{n}" for n in range(30)]
    for charger_id in ids:
        await service.register(RegisterCharger(id=charger_id))
    for step, state in enumerate(["Charging", "SuspendedEV", "SuspendedEV", "Charging"]):
        await asyncio.gather(
            *(service.report_status(status(i, state, seconds=step)) for i in ids),
            *(service.report_status(status(i, "Available", evse_id=2, seconds=step)) for i in ids),
        )
    async with any_db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(kernel.outbox.c.payload).where(
                    kernel.outbox.c.event_type == "ChargerStatusChanged"
                )
            )
        ).all()
    events = [json.loads(r.payload) for r in rows]
    for cid in ids:
        mine = [(e["evse_id"], e["status"], e["ts"]) for e in events if e["charger_id"] == cid]
        assert sorted(mine) == sorted(
            [
                (1, "Charging", "2026-11-27T09:00:00Z"),
                (1, "SuspendedEV", "2026-11-27T09:00:01Z"),
                (1, "Charging", "2026-11-27T09:00:03Z"),
                (2, "Available", "2026-11-27T09:00:00Z"),
            ]
        ), mine
    stored = await stored_connectors(any_db)
    assert all(stored[(i, 1)] == "Charging" and stored[(i, 2)] == "Available" for i in ids)


async def test_meter_telemetry_commits_with_its_samples_or_not_at_all(any_db, clock, units):
    del units  # the tables
    notified = []
    writer = GroupCommitWriter(
        any_db,
        meter_samples,
        companion=TelemetryOutbox(kernel.outbox, clock, lambda: notified.append(1)),
    )

    def rows(charger_id: str, n: int) -> list[dict]:
        return [
            {
                "charger_id": charger_id,
                "evse_id": 1,
                "connector_id": 1,
                "transaction_id": None,
                "sampled_at": T0 + timedelta(seconds=i),
                "measurand": "Energy.Active.Import.Register",
                "phase": None,
                "unit": "Wh",
                "multiplier": None,
                "context": None,
                "location": None,
                "value": str(1000 + i),
            }
            for i in range(n)
        ]

    await asyncio.gather(*(writer.write(rows(f"CP-{n}", 3)) for n in range(20)))
    bad = rows("CP-X", 2)
    bad[1]["value"] = "9" * 40  # longer than the column: PostgreSQL refuses the batch
    bad[1]["charger_id"] = None  # refused everywhere (NOT NULL)
    # The driver's own refusal: SQLAlchemy's on SQLite, asyncpg's from PostgreSQL's binary COPY.
    with pytest.raises((sqlalchemy.exc.DBAPIError, asyncpg.PostgresError)):
        await writer.write(bad)
    async with any_db.engine.connect() as conn:
        samples = await conn.scalar(select(func.count()).select_from(meter_samples))
        payloads = (
            await conn.execute(
                select(kernel.outbox.c.payload).where(
                    kernel.outbox.c.event_type == "MeterTelemetry"
                )
            )
        ).scalars()
        readings = [r for p in payloads for r in json.loads(p)["readings"]]
    assert samples == 60
    assert sum(r["samples"] for r in readings) == 60  # one event per batch, none for the failed
    assert {r["charger_id"] for r in readings} == {f"CP-{n}" for n in range(20)}
    assert {r["energy_wh"] for r in readings} == {1002}
    assert notified


async def test_writers_skip_connections_the_server_closed(postgres_db, clock):
    from csms.adapters.tables import metadata
    from tests.support.hot_path import Units

    async with postgres_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    service = ChargingService(Units(postgres_db, clock), clock)
    await service.register(RegisterCharger(id="CP-1"))
    # Several pooled writer connections, then all of them closed by the server (a restart).
    await asyncio.gather(
        *(service.report_status(status("CP-1", "Charging", evse_id=e)) for e in range(1, 9))
    )
    async with postgres_db.engine.connect() as conn:
        killed = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert killed >= 1
    await asyncio.sleep(0.3)  # the loop sees the sockets' end
    service.connected("CP-1")  # a read as well
    await service.report_status(status("CP-1", "Faulted", seconds=1))
    assert (await stored_connectors(postgres_db))[("CP-1", 1)] == "Faulted"
