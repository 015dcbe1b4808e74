"""PostgreSQL's one-statement park and leave (`parking/single_statement.py`) against the unit
of work's general path: the same slots, the same history rows and the same events, field for
field; and every case the statement leaves to the general path answered as precisely."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from chargepark.events.registry import validate_event
from parking.domain import (
    AlreadyParked,
    Fuel,
    LotFull,
    NotParked,
    OutOfOrder,
    UnknownLot,
    VehicleKind,
)
from parking.repository import SqlParkingUnitOfWork
from parking.service import LeaveLot, ParkingService, ParkVehicle
from parking.single_statement import SingleStatementParking
from parking.store import events_occupancy, kernel
from tests.conftest import FixedClock
from tests.support.parking import a_lot

pytestmark = pytest.mark.postgres

EV, ICE = Fuel.EV, Fuel.ICE
CAR, VAN = VehicleKind.CAR, VehicleKind.VAN


@pytest.fixture
def schema_of() -> str:
    """The databases start migrated (copied from a template)."""
    return "parking"


@pytest.fixture
async def services(postgres_db):
    """The general path and the single statements, on one database and one clock."""
    clock = FixedClock()
    units = lambda: SqlParkingUnitOfWork(postgres_db, kernel.outbox, clock, lambda: None)  # noqa: E731
    notified: list[int] = []
    at_once = SingleStatementParking(postgres_db, kernel.outbox, lambda: notified.append(1))
    general = ParkingService(units, clock)
    single = ParkingService(units, clock, at_once)
    return postgres_db, clock, general, single, notified


async def written(db: Any, lot_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The lot's history rows and events, without what differs between two runs (ids, lot)."""
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(events_occupancy)
                .where(events_occupancy.c.lot_id == lot_id)
                .order_by(events_occupancy.c.id)
            )
        ).all()
        payloads = (
            await conn.execute(
                select(kernel.outbox.c.payload)
                .where(kernel.outbox.c.event_type != "LotBaysChanged")  # the stays only
                .order_by(kernel.outbox.c.id)
            )
        ).scalars()
        events = [json.loads(p) for p in payloads]

    def same_in_both(row: dict[str, Any]) -> dict[str, Any]:
        row = {k: v for k, v in row.items() if k not in ("id", "lot_id", "event_id")}
        if row["charger_id"] is not None:  # each lot has chargers of its own
            row["charger_id"] = row["charger_id"].removeprefix(f"{lot_id}-")
        return row

    history = [same_in_both(dict(r._mapping)) for r in rows]
    mine = []
    for event in events:
        if event["lot_id"] == lot_id:
            validate_event(event)
            mine.append(same_in_both(event))
    return history, mine


async def play(parking: ParkingService, clock: FixedClock, lot_id: str, whole: bool) -> list[Any]:
    """A day in a lot; `whole`: gate times on whole seconds (their ISO form has no fraction)."""
    start = clock.at
    answers: list[Any] = []

    def at(minutes: float) -> Any:
        ts = start + timedelta(minutes=minutes)
        return ts if whole else ts + timedelta(microseconds=123_457)

    clock.at = start + timedelta(hours=10)
    steps = [
        ("park", "EV1", CAR, EV, at(1)),
        ("park", "ICE1", CAR, ICE, at(2)),
        ("park", "EV2", CAR, EV, at(3)),
        ("park", "EV3", CAR, EV, at(4)),  # EV bays taken: a regular slot
        ("park", "VAN1", VAN, ICE, at(5)),
        ("leave", "EV1", None, None, at(65.5)),
        ("park", "ICE2", CAR, ICE, at(70)),  # never the freed EV bay (the lot keeps it)
        ("leave", "ICE1", None, None, None),  # now
        ("park", "EV1", CAR, EV, None),
    ]
    for action, regnum, kind, fuel, ts in steps:
        if action == "park":
            stay = await parking.park(
                ParkVehicle(lot_id=lot_id, regnum=regnum, kind=kind, fuel=fuel, ts=ts)
            )
            answers.append((stay.slot.slot_ui, stay.slot.level, stay.since))
        else:
            left = await parking.leave(LeaveLot(lot_id, regnum=regnum, ts=ts))
            answers.append((left.stay.slot.slot_ui, left.at, left.duration_sec))
    clock.at = start
    return answers


@pytest.mark.parametrize("whole", [True, False], ids=["whole-seconds", "microseconds"])
async def test_the_single_statements_write_what_the_general_path_writes(services, whole):
    db, clock, general, single, notified = services
    await general.create_lot(a_lot("G"))
    await single.create_lot(a_lot("S"))

    expected = await play(general, clock, "G", whole)
    got = await play(single, clock, "S", whole)

    assert got == expected
    assert await written(db, "S") == await written(db, "G")
    assert len(notified) == 9  # the relay is woken after each


async def test_an_ice_vehicle_takes_an_ev_bay_last_where_the_lot_allows_it(services):
    _, _, general, single, _ = services
    for parking, lot_id in ((general, "G"), (single, "S")):
        await parking.create_lot(a_lot(lot_id, ev_bays_for_ice=True))
        got = [
            (
                await parking.park(ParkVehicle(lot_id=lot_id, regnum=f"C{n}", kind=CAR, fuel=ICE))
            ).slot.slot_ui
            for n in range(5)
        ]
        assert got == [2, 7, 9, 1, 8]
        with pytest.raises(LotFull):
            await parking.park(ParkVehicle(lot_id=lot_id, regnum="C9", kind=CAR, fuel=ICE))


async def test_what_the_statement_cannot_do_is_refused_as_precisely_and_writes_nothing(services):
    db, clock, _, single, notified = services
    await single.create_lot(a_lot("S"))

    async def outbox_rows() -> int:
        async with db.engine.connect() as conn:
            return await conn.scalar(select(func.count()).select_from(kernel.outbox))

    with pytest.raises(UnknownLot):
        await single.park(ParkVehicle(lot_id="NOPE", regnum="AB1", kind=CAR, fuel=ICE))
    with pytest.raises(UnknownLot):
        await single.leave(LeaveLot("NOPE", regnum="AB1"))
    await single.park(ParkVehicle(lot_id="S", regnum="AB1", kind=CAR, fuel=ICE))
    before = await outbox_rows()
    with pytest.raises(AlreadyParked):
        await single.park(ParkVehicle(lot_id="S", regnum="AB1", kind=CAR, fuel=ICE))
    with pytest.raises(OutOfOrder):  # leaving before it arrived
        await single.leave(LeaveLot("S", regnum="AB1", ts=clock.at - timedelta(minutes=1)))
    with pytest.raises(NotParked):
        await single.leave(LeaveLot("S", regnum="ZZ9"))
    with pytest.raises(NotParked):
        await single.leave(LeaveLot("S", regnum="AB1", slot_ui=7))
    assert await outbox_rows() == before

    clock.advance(minutes=5)
    left = await single.leave(LeaveLot("S", slot_ui=2))
    assert (left.stay.vehicle.regnum, left.duration_sec) == ("AB1", 300)
    with pytest.raises(OutOfOrder):  # parking again before the leave's time
        await single.park(
            ParkVehicle(
                lot_id="S", regnum="AB1", kind=CAR, fuel=ICE, ts=clock.at - timedelta(seconds=1)
            )
        )
    assert await outbox_rows() == before + 1
    assert len(notified) == 2
