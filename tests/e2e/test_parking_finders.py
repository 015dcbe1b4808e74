"""Parking's finders over REST, on SQLite and PostgreSQL: where is a vehicle (any lot), free
slots for a kind of vehicle in a lot and across lots, a lot's vehicles by kind and fuel; paged,
and bad input answered like the rest of parking."""

from __future__ import annotations

import copy

import pytest

from tests.support.e2e_parking import LOT, a_lot, call

pytestmark = pytest.mark.usefixtures("http")


async def park(http, p, lot_id, regnum, kind="CAR", fuel="ICE"):
    status, _, body = await call(
        http, p, "POST", f"/lots/{lot_id}/park", {"regnum": regnum, "kind": kind, "fuel": fuel}
    )
    assert status == 200, body
    return body


async def test_where_is_a_vehicle_in_any_lot(parking, http):
    await a_lot(http, parking)
    other = copy.deepcopy(LOT)
    other["id"] = "B2"
    for level in other["levels"]:
        for slot in level["slots"]:
            if slot.get("ev_bay"):
                slot["charger_id"] = "CP-B2"
    await a_lot(http, parking, other)
    await park(http, parking, "A1", "AB1")
    await park(http, parking, "B2", "ev 7", fuel="EV")

    status, _, found = await call(http, parking, "GET", "/vehicles/ev-7")
    assert status == 200
    assert {k: found[k] for k in ("regnum", "lot_id", "level", "slot_ui", "fuel", "ev_bay")} == {
        "regnum": "EV7",
        "lot_id": "B2",
        "level": "P0",
        "slot_ui": 1,
        "fuel": "EV",
        "ev_bay": True,
    }
    assert found["since"].endswith("Z")

    status, ctype, problem = await call(http, parking, "GET", "/vehicles/ZZ999")
    assert (status, ctype) == (404, "application/problem+json")
    assert "not parked" in problem["detail"]
    status, ctype, _ = await call(http, parking, "GET", "/vehicles/" + "X" * 300)
    assert (status, ctype) == (422, "application/problem+json")
    status, _, _ = await call(http, parking, "GET", "/vehicles/EV7", headers=parking.customer)
    assert status == 403  # other people's vehicles are not a customer's to find


async def test_free_slots_follow_the_allocation_rules(parking, http):
    await a_lot(http, parking)  # 1 EV bay (CAR), 2 CAR, 3 MOTORCYCLE on P0; 10 CAR, 11 VAN on P1

    async def free(path: str) -> list:
        status, _, body = await call(http, parking, "GET", path)
        assert status == 200, body
        return body

    ev = await free("/lots/A1/free?kind=CAR&fuel=EV")
    assert [s["slot_ui"] for s in ev["items"]] == [1, 2, 10]
    ice = await free("/lots/A1/free?kind=CAR&fuel=ICE")
    assert [s["slot_ui"] for s in ice["items"]] == [2, 10]  # never the EV bay
    assert [s["slot_ui"] for s in (await free("/lots/A1/free"))["items"]] == [1, 2, 3, 10, 11]
    p1 = await free("/lots/A1/free?level=P1")
    assert [s["slot_ui"] for s in p1["items"]] == [10, 11]

    await park(http, parking, "A1", "C1")  # takes 2
    page = await free("/lots/A1/free?kind=CAR&limit=1")
    assert [s["slot_ui"] for s in page["items"]] == [1] and page["next_after"] == 1
    page = await free("/lots/A1/free?kind=CAR&limit=1&after=1")
    assert [s["slot_ui"] for s in page["items"]] == [10] and page["next_after"] == 10
    page = await free("/lots/A1/free?kind=CAR&limit=1&after=10")
    assert page == {"items": [], "next_after": None}

    across = await free("/free?kind=CAR&fuel=ICE")
    assert across["items"] == [{"lot_id": "A1", "name": LOT["name"], "free": 1}]
    status, _, _ = await call(http, parking, "GET", "/free", headers=parking.customer)
    assert status == 200  # free slots name nobody

    for bad in (
        "/lots/A1/free?kind=BUS",
        "/lots/A1/free?fuel=DIESEL",
        "/lots/A1/free?limit=0",
        "/lots/A1/free?after=-1",
        "/free?limit=1001",
    ):
        status, ctype, _ = await call(http, parking, "GET", bad)
        assert (status, ctype) == (422, "application/problem+json"), bad
    status, _, _ = await call(http, parking, "GET", "/lots/NOPE/free")
    assert status == 404


async def test_a_lots_vehicles_by_kind_and_fuel(parking, http):
    await a_lot(http, parking)
    await park(http, parking, "A1", "EV1", fuel="EV")  # 1
    await park(http, parking, "A1", "ICE1")  # 2
    await park(http, parking, "A1", "MC1", kind="MOTORCYCLE")  # 3
    await park(http, parking, "A1", "VAN1", kind="VAN")  # 11

    async def vehicles(query: str) -> list:
        status, _, body = await call(http, parking, "GET", f"/lots/A1/vehicles{query}")
        assert status == 200, body
        return [(v["regnum"], v["slot_ui"]) for v in body["items"]]

    assert await vehicles("") == [("EV1", 1), ("ICE1", 2), ("MC1", 3), ("VAN1", 11)]
    assert await vehicles("?kind=CAR") == [("EV1", 1), ("ICE1", 2)]
    assert await vehicles("?kind=CAR&fuel=ICE") == [("ICE1", 2)]
    assert await vehicles("?limit=2&after=2") == [("MC1", 3), ("VAN1", 11)]
    status, _, _ = await call(http, parking, "GET", "/lots/A1/vehicles", headers=parking.customer)
    assert status == 403
    status, _, _ = await call(http, parking, "GET", "/lots/A1/vehicles?kind=truck")
    assert status == 422
