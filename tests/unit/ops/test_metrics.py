"""The figures of the metrics routes from fetched facts: a lot's occupancy now, a charger's
faults, the day's revenue per currency."""

from __future__ import annotations

from ops.domain.metrics import capacity_of, faults_of, lot_occupancy, revenue
from ops.domain.status import StatusInterval
from tests.support.ops import at


def test_a_lots_occupancy_per_level_and_in_its_ev_bays():
    parked = {("A", "P0", False): 3, ("A", "P1", True): 1, ("B", "P0", False): 7}
    capacity = {("A", "P0", False): 10, ("A", "P1", True): 2, ("A", "P1", False): 8}
    lot = lot_occupancy("A", parked, capacity)
    assert (lot["occupied"], lot["capacity"], lot["percent"]) == (4, 20, 20.0)
    assert lot["ev"] == {"occupied": 1, "capacity": 2, "percent": 50.0}
    assert [(lv["level"], lv["occupied"], lv["capacity"]) for lv in lot["levels"]] == [
        ("P0", 3, 10),
        ("P1", 1, 10),
    ]
    unknown = lot_occupancy("B", parked, capacity)  # no capacity known: vehicles only
    assert (unknown["occupied"], unknown["capacity"], unknown["percent"]) == (7, None, None)
    assert capacity_of(capacity, "P1", True) == 2 and capacity_of(capacity, None, None) == 20
    assert capacity_of({}, None, None) is None and capacity_of(capacity, "P9", None) is None


def test_faults_oldest_first_and_open_ones_without_an_end():
    per_evse = {
        2: [StatusInterval(2, "Faulted", at(10), at(60), "E2")],
        1: [
            StatusInterval(1, "Available", at(0), at(5)),
            StatusInterval(1, "Faulted", at(5), at(20), "E1"),
        ],
    }
    faults = faults_of(per_evse, at(60))
    assert [(f["evse_id"], f["to"], f["seconds"]) for f in faults] == [
        (1, at(20), 900.0),
        (2, None, 3000.0),
    ]


def test_revenue_per_currency():
    assert revenue({"EUR": (2, 300)}, {"SEK": (1, 50)}) == [
        {
            "currency": "EUR",
            "issued_count": 2,
            "issued_minor": 300,
            "paid_count": 0,
            "paid_minor": 0,
        },
        {
            "currency": "SEK",
            "issued_count": 0,
            "issued_minor": 0,
            "paid_count": 1,
            "paid_minor": 50,
        },
    ]
