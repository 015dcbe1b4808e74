"""The shared presence table on SQLite and PostgreSQL: rows follow connects and disconnects in
batches, a node touches only its own rows, start and stop clear them, and a node whose heartbeat
goes stale loses its rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from chargepark.clock import as_utc
from csms.adapters.cluster import Holder, PresenceTable, Whereabouts
from csms.adapters.presence import Presence
from csms.adapters.tables import charger_presence, csms_nodes
from tests.conftest import FixedClock
from tests.support import templates

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


async def rows(db) -> dict[str, tuple[str, str]]:
    async with db.engine.connect() as conn:
        found = await conn.execute(select(charger_presence))
        return {r.charger_id: (r.node_id, r.ocpp_version) for r in found}


async def settled(db, expected: dict[str, tuple[str, str]]) -> None:
    async with asyncio.timeout(5):
        while await rows(db) != expected:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_connects_and_disconnects_reach_the_table_and_each_node_keeps_to_its_rows(any_db):
    await templates.migrated("csms", any_db)
    a, b = PresenceTable(any_db, "node-a"), PresenceTable(any_db, "node-b")
    await a.start()
    await b.start()
    try:
        on_a, on_b = Presence(a), Presence(b)
        sockets = {n: object() for n in range(3)}
        on_a.connected("CP-1", sockets[0], "ocpp1.6", T0)
        on_a.connected("CP-2", sockets[1], "ocpp2.0.1", T0)
        await settled(any_db, {"CP-1": ("node-a", "1.6"), "CP-2": ("node-a", "2.0.1")})
        assert await a.holder("CP-2") == Holder("node-a", "2.0.1", T0)

        # CP-1 moves to node b before node a notices its old socket closed.
        on_b.connected("CP-1", sockets[2], "ocpp2.0.1", T0)
        await settled(any_db, {"CP-1": ("node-b", "2.0.1"), "CP-2": ("node-a", "2.0.1")})
        on_a.disconnected("CP-1", sockets[0])
        on_a.disconnected("CP-2", sockets[1])
        await settled(any_db, {"CP-1": ("node-b", "2.0.1")})

        where = Whereabouts(on_a, a)
        assert await where.connected(["CP-1", "CP-2"]) == {"CP-1": "2.0.1"}
        assert (await where.elsewhere("CP-1")).node_id == "node-b"  # type: ignore[union-attr]
        assert await a.forget("CP-1", "node-a") is False
        assert await a.forget("CP-1", "node-b") is True
        assert await rows(any_db) == {}
    finally:
        await a.stop()
        await b.stop()


async def test_many_connects_at_once_are_written_together_and_the_newest_state_wins(any_db):
    await templates.migrated("csms", any_db)
    table = PresenceTable(any_db, "node-a")
    await table.start()
    try:
        presence = Presence(table)
        sockets = [object() for _ in range(1200)]  # more than one IN (...) chunk
        for n, socket in enumerate(sockets):
            presence.connected(f"CP-{n}", socket, "ocpp1.6", T0)
        for n in range(0, 1200, 2):
            presence.disconnected(f"CP-{n}", sockets[n])
        await settled(any_db, {f"CP-{n}": ("node-a", "1.6") for n in range(1, 1200, 2)})
        assert len(await table.holders([f"CP-{n}" for n in range(1200)])) == 600
    finally:
        await table.stop()


async def test_start_and_stop_clear_this_nodes_rows_and_only_those(any_db):
    await templates.migrated("csms", any_db)
    old_a, b = PresenceTable(any_db, "node-a"), PresenceTable(any_db, "node-b")
    await old_a.start()
    await b.start()
    old_a.connected("CP-1", "ocpp1.6", T0)
    b.connected("CP-2", "ocpp1.6", T0)
    await settled(any_db, {"CP-1": ("node-a", "1.6"), "CP-2": ("node-b", "1.6")})
    # node a crashed (its writer never stopped cleanly) and starts again under its id
    new_a = PresenceTable(any_db, "node-a")
    await new_a.start()
    assert await rows(any_db) == {"CP-2": ("node-b", "1.6")}
    await b.stop()
    b.connected("CP-3", "ocpp1.6", T0)  # a socket closing during shutdown writes nothing
    await asyncio.sleep(0.05)
    assert await rows(any_db) == {}
    await new_a.stop()
    await old_a.stop()


async def test_the_only_node_clears_every_leftover_row_at_start(any_db):
    await templates.migrated("csms", any_db)
    earlier = PresenceTable(any_db, "run-1")
    await earlier.start()
    earlier.connected("CP-1", "ocpp1.6", T0)
    await settled(any_db, {"CP-1": ("run-1", "1.6")})
    embedded = PresenceTable(any_db, "run-2", only_node=True)
    await embedded.start()
    assert await rows(any_db) == {}
    await embedded.stop()
    await earlier.stop()


async def test_writes_that_fail_are_retried(sqlite_db):
    await templates.migrated("csms", sqlite_db)
    table = PresenceTable(sqlite_db, "node-a", retry_base=0.01, retry_cap=0.05)
    await table.start()
    try:
        async with sqlite_db.engine.begin() as conn:  # the table goes away for a moment
            await conn.exec_driver_sql("ALTER TABLE charger_presence RENAME TO away")
        table.connected("CP-1", "ocpp1.6", T0)
        await asyncio.sleep(0.1)
        async with sqlite_db.engine.begin() as conn:
            await conn.exec_driver_sql("ALTER TABLE away RENAME TO charger_presence")
        await settled(sqlite_db, {"CP-1": ("node-a", "1.6")})
    finally:
        await table.stop()


async def test_reconcile_puts_back_rows_that_went_missing_and_removes_strays(any_db):
    await templates.migrated("csms", any_db)
    table = PresenceTable(any_db, "node-a")
    await table.start()
    try:
        presence = Presence(table)
        presence.connected("CP-1", object(), "ocpp1.6", T0)
        presence.connected("CP-2", object(), "ocpp2.0.1", T0)
        await settled(any_db, {"CP-1": ("node-a", "1.6"), "CP-2": ("node-a", "2.0.1")})
        assert await table.reconcile(presence.sockets) == 0
        # Another node found node a silent (its bus connection was down) and removed a row;
        # a row of a socket node a no longer holds is left over.
        await table.forget("CP-1", "node-a")
        async with any_db.engine.begin() as conn:
            await conn.execute(
                charger_presence.insert().values(
                    charger_id="CP-9", node_id="node-a", ocpp_version="1.6", connected_at=T0
                )
            )
        assert await table.reconcile(presence.sockets) == 2
        await settled(any_db, {"CP-1": ("node-a", "1.6"), "CP-2": ("node-a", "2.0.1")})
    finally:
        await table.stop()


async def heartbeats(db) -> dict[str, datetime]:
    async with db.engine.connect() as conn:
        return {r.node_id: as_utc(r.seen_at) for r in await conn.execute(select(csms_nodes))}


async def test_a_node_silent_past_the_timeout_loses_its_rows_to_exactly_one_sweeper(any_db):
    await templates.migrated("csms", any_db)
    clock = FixedClock(T0)
    timeout = timedelta(seconds=60)
    a, b, c = (PresenceTable(any_db, f"node-{x}", clock=clock, node_timeout=timeout) for x in "abc")
    for table in (a, b, c):
        await table.start()
    try:
        assert await heartbeats(any_db) == {"node-a": T0, "node-b": T0, "node-c": T0}
        on_a, on_b = Presence(a), Presence(b)
        for charger_id in ("CP-1", "CP-2", "CP-3"):
            on_a.connected(charger_id, object(), "ocpp1.6", T0)
        await settled(any_db, {f"CP-{i}": ("node-a", "1.6") for i in (1, 2, 3)})

        # Node a goes silent. CP-3 reconnects to node b: its row is b's now.
        clock.advance(seconds=45)
        on_b.connected("CP-3", object(), "ocpp2.0.1", clock.now())
        await settled(
            any_db,
            {"CP-1": ("node-a", "1.6"), "CP-2": ("node-a", "1.6"), "CP-3": ("node-b", "2.0.1")},
        )
        for table in (b, c):
            await table.heartbeat()
            assert await table.sweep_dead_nodes() == []  # 45 s: not yet
        clock.advance(seconds=30)  # a: 75 s silent; b and c beat 30 s ago
        swept = await asyncio.gather(b.sweep_dead_nodes(), c.sweep_dead_nodes())
        assert sorted(swept, key=len) == [[], ["CP-1", "CP-2"]]
        assert await rows(any_db) == {"CP-3": ("node-b", "2.0.1")}
        assert set(await heartbeats(any_db)) == {"node-b", "node-c"}
        assert await b.sweep_dead_nodes() == []
    finally:
        for table in (a, b, c):
            await table.stop()
    assert await heartbeats(any_db) == {}  # a node that stops takes its heartbeat with it
    await b.heartbeat()  # a housekeeping round that ran late, after the stop
    assert await heartbeats(any_db) == {}
