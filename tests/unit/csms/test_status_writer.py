"""The status writer's connector cache, with batches in flight ending out of order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from csms.hotpath.status_writer import ReportStatus, StatusWriter


def report(charger_id: str) -> ReportStatus:
    return ReportStatus(
        charger_id=charger_id,
        evse_id=1,
        connector_id=1,
        status="Available",
        error_code=None,
        info=None,
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )


async def test_a_charger_forgotten_while_its_batch_is_in_flight_is_not_cached_from_it():
    writer = StatusWriter(lambda: None)  # type: ignore[arg-type,return-value]
    gates = {"A": asyncio.Event(), "B": asyncio.Event()}

    async def write(reports):  # stands in for the database round trip
        charger = reports[0].charger_id
        await gates[charger].wait()
        return [None] * len(reports), {charger: {(1, 1): charger}}

    writer._write = write  # type: ignore[method-assign]
    a = asyncio.create_task(writer._apply([report("A")]))
    b = asyncio.create_task(writer._apply([report("B")]))
    await asyncio.sleep(0)
    gates["B"].set()
    await b  # the later batch ends first
    writer.forget("A")  # A's connectors changed meanwhile: A's batch must not cache its view
    gates["A"].set()
    assert await a == [None]
    assert writer.cached("A") is None
    assert writer.cached("B") == {(1, 1): "B"}


def test_a_conditional_report_applies_only_over_its_status_and_wins_over_a_skewed_clock():
    from datetime import timedelta

    from csms.domain.chargers import Connector
    from csms.hotpath.status_writer import _decide

    t = datetime(2026, 1, 1, tzinfo=UTC)
    offline = Connector(0, 0, "Offline", None, "connection closed", t)
    states = {"A": {(0, 0): offline}, "B": {(0, 0): Connector(0, 0, "Faulted", None, None, t)}}
    behind = t - timedelta(seconds=3)  # the other node's clock
    back = [
        ReportStatus(
            charger_id=cp,
            evse_id=0,
            connector_id=0,
            status="Available",
            error_code=None,
            info="connected",
            at=behind,
            only_if="Offline",
        )
        for cp in ("A", "B")
    ]
    outcomes, latest, events = _decide(back, states)
    assert outcomes == [None, None]
    assert [(e["charger_id"], e["status"]) for e in events] == [("A", "Available")]
    assert states["A"][(0, 0)].status == "Available" and states["A"][(0, 0)].status_at == t
    assert states["B"][(0, 0)].status == "Faulted"  # not Offline: left as it is
    assert [cp for cp, _ in latest] == ["A"]
