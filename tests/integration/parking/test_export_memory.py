"""Exporting a lot's history streams it: the memory an export takes does not grow with its
rows, on SQLite and on PostgreSQL. Two lots, one with five times the other's history: the
larger export's peak is no higher than the smaller's but for a small fraction of the extra
size (loaded whole, rows take well over ten times their size in Python objects)."""

from __future__ import annotations

import json
import tracemalloc
from datetime import timedelta

import pytest
from sqlalchemy import insert

from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.config import Settings
from chargepark.events.inprocess import InProcessBus
from chargepark.events.outbox import OutboxRelay
from chargepark.service import ServiceContext
from parking.app import build
from parking.repository import SqlParkingUnitOfWork
from parking.service import CreateLot, ParkingService
from parking.store import events_occupancy, kernel
from tests.conftest import T0
from tests.support.parking import a_slot
from tests.support.tokens import TokenIssuer

SMALL, ROWS = 4_000, 20_000


@pytest.fixture
def schema_of() -> str:
    """The databases start migrated (copied from a template)."""
    return "parking"


@pytest.fixture
async def client(any_db, clock, aiohttp_client):
    units = lambda: SqlParkingUnitOfWork(any_db, kernel.outbox, clock, lambda: None)  # noqa: E731
    service = ParkingService(units, clock)
    for lot, rows in (("S1", SMALL), ("H1", ROWS)):
        await service.create_lot(CreateLot(lot, lot.lower(), [a_slot(1), a_slot(2)]))
        await insert_history(any_db, lot, rows)
    issuer = TokenIssuer()
    bus = InProcessBus()
    ctx = ServiceContext(
        name="parking",
        settings=Settings(),
        db=any_db,
        tables=kernel,
        bus=bus,
        relay=OutboxRelay("parking", any_db, kernel.outbox, bus),
        clock=clock,
        verifier=TokenVerifier(StaticJwks(issuer.jwks)),
    )
    client = await aiohttp_client(build(ctx).app)
    client.headers = {"Authorization": f"Bearer {issuer.issue('parking:read')}"}
    return client


async def insert_history(db, lot: str, rows: int) -> None:
    async with db.engine.begin() as conn:
        for start in range(0, rows, 10_000):
            await conn.execute(
                insert(events_occupancy),
                [
                    {
                        "lot_id": lot,
                        "action": "PARK" if i % 2 == 0 else "LEAVE",
                        "ts": T0 + timedelta(seconds=i),
                        "slot_ui": 1,
                        "level": "=L0",
                        "regnum": f"R{i // 2}",
                        "kind": "CAR",
                        "fuel": "ICE",
                        "ev_bay": False,
                        "arrived_at": None if i % 2 == 0 else T0 + timedelta(seconds=i - 1),
                        "duration_sec": None if i % 2 == 0 else 1,
                        "recorded_at": T0,
                    }
                    for i in range(start, min(start + 10_000, rows))
                ],
            )


async def exported(client, path: str, *, trace: bool = True) -> tuple[bytes, bytes, int, int]:
    """(head, tail, size) of the export, and the peak memory traced while it was made and read
    a chunk at a time."""
    head, tail, size, peak = b"", b"", 0, 0
    if trace:
        tracemalloc.start()
    try:
        async with client.get(path, headers=client.headers) as r:
            assert r.status == 200
            async for chunk in r.content.iter_chunked(64 * 1024):
                head = head or chunk[:4096]
                tail = (tail + chunk)[-4096:]
                size += len(chunk)
        if trace:
            _, peak = tracemalloc.get_traced_memory()
    finally:
        if trace:
            tracemalloc.stop()
    return head, tail, size, peak


@pytest.mark.postgres
async def test_a_history_exports_in_memory_that_does_not_grow_with_its_rows(client):
    _, _, small_size, small_peak = await exported(client, "/lots/S1/export.csv?history=1")
    head, tail, size, peak = await exported(client, "/lots/H1/export.csv?history=1")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"id,action,ts,slot_ui,level,regnum")
    assert b",'=L0," in lines[1]  # neutralized, in every row
    assert tail.endswith(b"\r\n") and f",R{ROWS // 2 - 1},".encode() in tail
    assert size > ROWS * 90 and size > 4 * small_size  # 20,001 lines, 4,001
    # Loaded whole, the 16,000 more rows would add over ten times their size.
    grown = peak - small_peak
    assert grown < (size - small_size) * 0.15, f"peak {peak} bytes after {small_peak}"

    # JSON goes through the same cursor and response stream (its chunking: tests/unit/parking);
    # not traced again, which would double the run time.
    head, tail, size, _ = await exported(client, "/lots/H1/export.json?history=1", trace=False)
    assert head.startswith(b'{"lot_id":"H1","export":"history","rows":[{"id":')
    assert tail.endswith(b"]}")
    last = json.loads(b"{" + tail.rsplit(b",{", 1)[1].removesuffix(b"]}"))
    assert last["regnum"] == f"R{ROWS // 2 - 1}" and last["level"] == "=L0"  # JSON: kept as is
    assert size > ROWS * 200
