"""The RemoteStarts port: the same cases in memory and on SQL."""

from __future__ import annotations

import pytest

from csms.adapters.remote_starts import SqlRemoteStarts
from csms.adapters.session_queries import SessionQueries, UnknownSession
from csms.domain.chargers import Charger, Registration, UnknownCharger
from csms.domain.sessions import Session
from csms.ports.remote_starts import RemoteStarts
from tests.conftest import T0
from tests.support.fakes.csms.remote_starts import InMemoryRemoteStarts


@pytest.fixture
async def store(backend) -> RemoteStarts:
    await backend.register("CP-1", "1.6")
    await backend.register("CP-2", None)
    if not backend.fake:
        return SqlRemoteStarts(backend.uow(), SessionQueries(backend.db))
    fake = InMemoryRemoteStarts()
    for charger_id, version in backend.registered:
        fake.chargers[charger_id] = Charger(
            charger_id, Registration.ACCEPTED, T0, T0, tariff_id="T-1", ocpp_version=version
        )
    return fake


def pending(sid: str, minutes_ago: int, clock) -> Session:
    at = clock.now()
    return Session(
        id=sid,
        charger_id="CP-1",
        transaction_id=None,
        evse_id=1,
        connector_id=1,
        started_at=at,
        status="pending",
        id_token="RFID-1",
        requested_at=at,
        remote_start_id=7,
    )


async def test_the_charger_asked_and_an_unknown_one(store):
    charger = await store.charger("CP-1")
    assert (charger.ocpp_version, charger.tariff_id) == ("1.6", "T-1")
    assert (await store.charger("CP-2")).ocpp_version is None
    with pytest.raises(UnknownCharger):
        await store.charger("NOPE")
    assert await store.vehicle_at("CP-1", 1) is None


async def test_a_pending_session_reads_back_and_fails_once(store, clock):
    await store.add(pending("s-1", 0, clock))
    got = await store.get("s-1")
    assert (got.status, got.remote_start_id, got.id_token) == ("pending", 7, "RFID-1")
    clock.advance(seconds=5)
    await store.fail_pending("s-1", "RemoteStartRejected-and-a-long-reason-cut-short", clock.now())
    failed = await store.get("s-1")
    assert (failed.status, failed.stop_reason, failed.ended_at) == (
        "failed",
        "RemoteStartRejected-and-a-long-r",
        clock.now(),
    )
    clock.advance(seconds=5)
    await store.fail_pending("s-1", "Cancelled", clock.now())  # not pending any more: no change
    assert (await store.get("s-1")).stop_reason == "RemoteStartRejected-and-a-long-r"
    with pytest.raises(UnknownSession):
        await store.get("nope")


async def test_pending_starts_requested_before_the_cutoff_expire(store, clock):
    await store.add(pending("old", 0, clock))
    clock.advance(minutes=5)
    await store.add(pending("new", 0, clock))
    assert await store.expire_pending(clock.now(), clock.now()) == 1
    assert (await store.get("old")).stop_reason == "NotStarted"
    assert (await store.get("new")).status == "pending"


async def test_a_running_session_is_found_by_its_transaction(store, clock):
    running = Session(
        id="s-run",
        charger_id="CP-1",
        transaction_id="41",
        evse_id=1,
        connector_id=1,
        started_at=clock.now(),
    )
    await store.add(running)
    found = await store.by_transaction("CP-1", "41")
    assert found is not None and found.id == "s-run"
    assert await store.by_transaction("CP-1", "42") is None
