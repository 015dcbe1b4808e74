"""Parking on PostgreSQL with two `chargepark serve parking` processes on one database: many
simultaneous parks never share a slot, a full lot refuses cleanly, and every park has its event
in the outbox. And the service keeps parking while the bus is down."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select, text

from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.errors import DomainError
from chargepark.platform.config import load_settings
from chargepark.platform.runtime import Platform
from parking.domain import Fuel, VehicleKind
from parking.repository import SqlParkingUnitOfWork
from parking.service import CreateLot, LeaveLot, ParkingService, ParkVehicle
from parking.single_statement import SingleStatementParking
from parking.store import events_occupancy, kernel, slots
from tests.conftest import FixedClock
from tests.support.parking import a_slot
from tests.support.procs import CHARGEPARK, clean_env, free_port, wait_http
from tests.support.services import pg_url
from tests.support.tokens import TokenIssuer

pytestmark = pytest.mark.postgres

SLOTS = 40
CARS = 100

# The stays' events: a lot's creation publishes its EV bays (LotBaysChanged) as well.
STAYS = kernel.outbox.c.event_type != "LotBaysChanged"


@pytest.fixture
def schema_of() -> str:
    """The databases start migrated (copied from a template; `chargepark migrate` on
    PostgreSQL is tested in tests/e2e/test_distributed.py)."""
    return "parking"


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer()


@pytest.fixture
async def jwks_url(issuer, aiohttp_server) -> str:
    app = web.Application()

    async def jwks(_request: web.Request) -> web.Response:
        return web.json_response(issuer.jwks)

    app.router.add_get("/jwks.json", jwks)
    server = await aiohttp_server(app)
    return str(server.make_url("/jwks.json"))


@pytest.fixture
def two_processes(postgres_db, jwks_url) -> Iterator[list[str]]:
    name = postgres_db.url.rsplit("/", 1)[1]
    url = (
        f"postgresql://postgres@{postgres_db.engine.url.host}:{postgres_db.engine.url.port}/{name}"
    )
    env = clean_env(CHARGEPARK_JWKS_URL=jwks_url, CHARGEPARK_LOG_LEVEL="warning")
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen(
            [*CHARGEPARK, "serve", "parking", "--port", str(port), "--database-url", url],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for port in ports
    ]
    try:
        for port in ports:
            assert wait_http(f"http://127.0.0.1:{port}/healthz") == 200
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            _, err = proc.communicate(timeout=30)
            assert "Traceback" not in err, err


async def test_simultaneous_parks_through_two_processes_never_share_a_slot(
    two_processes, issuer, postgres_db
):
    # Processes started by the CLI check the issuer and audience, as in production.
    token = issuer.issue("parking:read parking:write", iss="chargepark", aud="chargepark")
    headers = {"Authorization": f"Bearer {token}"}
    lot = {
        "id": "RUSH",
        "name": "rush hour",
        "levels": [
            {
                "level": f"L{n}",
                "slots": [
                    {
                        "slot_ui": n * 100 + i,
                        "fits": "CAR",
                        "ev_bay": i % 4 == 0,
                        **({"charger_id": f"CP-{n}-{i}", "connector_id": 1} if i % 4 == 0 else {}),
                    }
                    for i in range(1, SLOTS // 2 + 1)
                ],
            }
            for n in (1, 2)
        ],
    }
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        async with http.post(f"{two_processes[0]}/lots", json=lot, headers=headers) as r:
            assert r.status == 201, await r.text()

        async def park(i: int) -> tuple[int, dict]:
            # Every car twice, once through each process: only one of the two may park it.
            base = two_processes[i % 2]
            body = {"regnum": f"RUSH{i // 2}", "kind": "CAR", "fuel": "EV" if i % 3 else "ICE"}
            async with http.post(f"{base}/lots/RUSH/park", json=body, headers=headers) as r:
                return r.status, await r.json(content_type=None)

        answers = await asyncio.gather(*(park(i) for i in range(2 * CARS)))

    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: SLOTS, 409: 2 * CARS - SLOTS}, statuses
    given = [body["slot_ui"] for status, body in answers if status == 200]
    assert len(set(given)) == SLOTS, "a slot was given twice"
    # A twin of a parked car is refused as such, or as "lot full" when it lost the race for
    # the last slot before its twin committed; never a 500, never a second slot.
    refusals = Counter(body["message"] for status, body in answers if status == 409)
    assert set(refusals) <= {"lot full", "vehicle already parked"}, refusals
    async with postgres_db.engine.connect() as conn:
        occupied = await conn.scalar(select(func.count()).where(slots.c.regnum.is_not(None)))
        regnums = await conn.scalar(select(func.count(func.distinct(slots.c.regnum))))
        events = (await conn.execute(select(kernel.outbox.c.payload).where(STAYS))).scalars().all()
    assert occupied == regnums == SLOTS
    parked = [json.loads(e) for e in events]
    assert sorted(int(e["slot_ui"]) for e in parked) == sorted(given)


async def test_a_failure_between_park_and_its_event_loses_both_or_neither(postgres_db):
    clock = FixedClock()
    units = lambda: SqlParkingUnitOfWork(postgres_db, kernel.outbox, clock, lambda: None)  # noqa: E731
    parking = ParkingService(units, clock)
    await parking.create_lot(CreateLot("C1", "c", [a_slot(1)]))

    class Broken(DomainError):
        pass

    def broken_units():
        unit = units()
        unit.emit = lambda event: (_ for _ in ()).throw(Broken("crash before commit"))  # type: ignore[method-assign]
        return unit

    with pytest.raises(Broken):
        await ParkingService(broken_units, clock).park(
            ParkVehicle(lot_id="C1", regnum="AB1", kind=VehicleKind.CAR, fuel=Fuel.ICE)
        )
    async with postgres_db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(kernel.outbox).where(STAYS)) == 0
        assert await conn.scalar(select(func.count()).where(slots.c.regnum.is_not(None))) == 0
    stay = await parking.park(
        ParkVehicle(lot_id="C1", regnum="AB1", kind=VehicleKind.CAR, fuel=Fuel.ICE)
    )
    assert stay.slot.slot_ui == 1


@pytest.fixture
async def parking_without_bus(postgres_db, issuer) -> AsyncIterator[Platform]:
    """parking alone on PostgreSQL with a NATS URL where nothing listens: the bus is down."""
    name = postgres_db.url.rsplit("/", 1)[1]
    settings = load_settings(
        {
            "CHARGEPARK_BUS_URL": f"nats://127.0.0.1:{free_port()}",
            "CHARGEPARK_DATABASE_URL": pg_url(name),
            "CHARGEPARK_MIGRATE_ON_START": "1",
        },
        {"http_port": free_port()},
        services=("parking",),
    )
    platform = Platform(settings, ("parking",), verifier=TokenVerifier(StaticJwks(issuer.jwks)))
    await platform.start()
    yield platform
    await platform.stop()


async def test_parking_keeps_working_while_the_bus_is_down(
    parking_without_bus, issuer, postgres_db
):
    base = parking_without_bus.base_url
    headers = {"Authorization": f"Bearer {issuer.issue('parking:read parking:write')}"}
    lot = {
        "id": "D1",
        "name": "d",
        "levels": [{"level": "P0", "slots": [{"slot_ui": 1, "fits": "CAR"}]}],
    }
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/readyz") as r:
            assert r.status == 503
        async with http.post(f"{base}/lots", json=lot, headers=headers) as r:
            assert r.status == 201
        body = {"regnum": "AB1", "kind": "CAR", "fuel": "ICE"}
        async with http.post(f"{base}/lots/D1/park", json=body, headers=headers) as r:
            assert r.status == 200
        async with http.post(f"{base}/lots/D1/leave", json={"regnum": "AB1"}, headers=headers) as r:
            assert r.status == 200
    async with postgres_db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(kernel.outbox.c.event_type, kernel.outbox.c.sent_at)
                .where(STAYS)
                .order_by(kernel.outbox.c.id)
            )
        ).all()
    assert [(t, sent) for t, sent in rows] == [("VehicleParked", None), ("VehicleLeft", None)]


@pytest.mark.parametrize("single_statement", [False, True], ids=["unit-of-work", "single"])
async def test_park_and_leave_survive_connections_the_server_closed(postgres_db, single_statement):
    """The park/leave path takes connections from the writers' pool, which does not ping them
    first: one the server closed meanwhile is replaced (or the use case runs again, once), not
    a failure. Each park and leave still writes its history row and its outbox row."""
    clock = FixedClock()
    units = lambda: SqlParkingUnitOfWork(postgres_db, kernel.outbox, clock, lambda: None)  # noqa: E731
    at_once = SingleStatementParking(postgres_db, kernel.outbox, lambda: None)
    parking = ParkingService(units, clock, at_once if single_statement else None)
    await parking.create_lot(CreateLot("D1", "d", [a_slot(1), a_slot(2)]))
    await parking.park(ParkVehicle(lot_id="D1", regnum="AB1", kind=VehicleKind.CAR, fuel=Fuel.ICE))

    async def terminate_others() -> None:
        async with postgres_db.engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )

    await terminate_others()
    left = await parking.leave(LeaveLot("D1", regnum="AB1"))
    assert left.stay.slot.slot_ui == 1
    await terminate_others()
    stay = await parking.park(
        ParkVehicle(lot_id="D1", regnum="AB2", kind=VehicleKind.CAR, fuel=Fuel.ICE)
    )
    assert stay.slot.slot_ui == 1
    async with postgres_db.engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(kernel.outbox).where(STAYS)) == 3
        assert await conn.scalar(select(func.count()).select_from(events_occupancy)) == 3
        assert await conn.scalar(select(slots.c.regnum).where(slots.c.slot_ui == 1)) == "AB2"
