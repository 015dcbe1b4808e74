"""The session service's rules against the in-memory fakes: transactions the CSMS numbers and
transactions the charger numbers, as chargers really send them (retransmitted starts, stops
for unknown ids, events replayed after an offline period, an end without its start, seqNo
holes, one token in two transactions)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from csms.domain.authorization import Authorization
from csms.domain.sessions import ENERGY_INTERVAL, ENERGY_REGISTER, Session
from csms.services.sessions import SessionEvent, SessionService, StartSession
from tests.conftest import T0, FixedClock
from tests.support.fakes.csms.sessions import FakeTokenAuthority, FakeUnits

ACCEPTED = Authorization("Accepted", customer_id="cust-1")


@pytest.fixture
def units() -> FakeUnits:
    return FakeUnits()


@pytest.fixture
def tokens() -> FakeTokenAuthority:
    return FakeTokenAuthority({"RFID-1": ACCEPTED, "RFID-2": Authorization("Accepted")})


@pytest.fixture
def service(units: FakeUnits, tokens: FakeTokenAuthority) -> SessionService:
    return SessionService(units, FixedClock(), tokens)


def start(charger_id: str = "CP-1", token: str = "RFID-1", wh: int = 1000, **kw: Any) -> Any:
    values: dict[str, Any] = {
        "charger_id": charger_id,
        "evse_id": 1,
        "connector_id": 1,
        "id_token": token,
        "meter_start_wh": wh,
        "at": T0,
        "start_key": f"1|{token}|{wh}|{T0.isoformat()}",
    }
    return StartSession(**(values | kw))


def stop(tx: str, wh: int, charger_id: str = "CP-1", **kw: Any) -> SessionEvent:
    values: dict[str, Any] = {
        "charger_id": charger_id,
        "transaction_id": tx,
        "phase": "ended",
        "at": T0 + timedelta(minutes=30),
        "charger_numbers": False,
        "meter_wh": wh,
    }
    return SessionEvent(**(values | kw))


def event(phase: str, seq_no: int, minute: int = 0, tx: str = "TX-1", **kw: Any) -> SessionEvent:
    values: dict[str, Any] = {
        "charger_id": "CS-1",
        "transaction_id": tx,
        "phase": phase,
        "at": T0 + timedelta(minutes=minute),
        "charger_numbers": True,
        "seq_no": seq_no,
        "evse_id": 1,
        "connector_id": 1,
    }
    return SessionEvent(**(values | kw))


def the_session(units: FakeUnits) -> Session:
    (session,) = units.data.sessions.values()
    return session


def sample(tx: str, minute: int, value: str, measurand: str = ENERGY_REGISTER, **kw: Any) -> dict:
    return {
        "charger_id": kw.get("charger_id", "CP-1"),
        "evse_id": 0,
        "connector_id": 0,
        "transaction_id": tx,
        "sampled_at": T0 + timedelta(minutes=minute),
        "measurand": measurand,
        "phase": kw.get("phase"),
        "unit": kw.get("unit"),
        "multiplier": None,
        "context": None,
        "location": None,
        "value": value,
    }


# Transactions the CSMS numbers (1.6).


async def test_a_start_is_numbered_and_its_stop_closes_it_with_the_register_energy(service, units):
    started = await service.start(start())
    assert (started.transaction_id, started.auth.status) == ("1", "Accepted")
    await service.record(stop("1", 15_300, reason="EVDisconnected"))
    session = the_session(units)
    assert (session.status, session.energy_wh, session.energy_source) == (
        "closed",
        14_300,
        "registers",
    )
    assert (session.customer_id, session.stop_reason) == ("cust-1", "EVDisconnected")
    assert units.event_names() == ["ChargingSessionStarted", "ChargingSessionClosed"]


async def test_a_retransmitted_start_gets_the_same_number_and_the_first_answer(
    service, units, tokens
):
    first = await service.start(start(token="RFID-9"))  # unknown to accounts
    tokens.answers["RFID-9"] = ACCEPTED  # accounts knows it by the retransmission
    again = await service.start(start(token="RFID-9"))
    assert (again.transaction_id, again.auth.status) == (first.transaction_id, "Unknown")
    assert len(units.data.sessions) == 1 and units.event_names() == ["ChargingSessionStarted"]
    assert (await service.start(start(token="RFID-9", wh=2000))).transaction_id == "2"


async def test_a_token_not_accepted_still_opens_the_session(service, units):
    started = await service.start(start(token="RFID-9"))
    assert started.auth.status == "Unknown"
    assert (the_session(units).status, the_session(units).auth_status) == ("active", "Unknown")


async def test_a_token_in_an_ongoing_transaction_is_concurrent_tx(service, units):
    await service.start(start())
    assert (await service.authorize("RFID-1")).status == "ConcurrentTx"
    assert (await service.authorize("RFID-2")).status == "Accepted"
    second = await service.start(start(charger_id="CP-2"))
    assert second.auth.status == "ConcurrentTx"
    await service.record(stop("1", 2000))
    assert (await service.authorize("RFID-1")).status == "ConcurrentTx"  # CP-2's still runs
    await service.record(stop("2", 2000, charger_id="CP-2"))
    assert (await service.authorize("RFID-1")).status == "Accepted"


async def test_a_stop_for_an_unknown_number_opens_nothing_and_keeps_its_samples(service, units):
    assert await service.record(stop("77", 5000, samples=[sample("77", 10, "4000")])) is None
    assert units.data.sessions == {} and units.event_names() == []
    assert [r["value"] for r in units.data.samples] == ["4000"]


async def test_a_retransmitted_stop_closes_nothing_again(service, units):
    await service.start(start())
    await service.record(stop("1", 5000))
    await service.record(stop("1", 9000))
    assert the_session(units).energy_wh == 4000
    assert units.event_names().count("ChargingSessionClosed") == 1


async def test_a_stop_s_samples_are_placed_at_the_session_and_count_past_a_meter_reset(
    service, units
):
    await service.start(start(evse_id=2, connector_id=1, wh=5000))
    samples = [sample("1", 10, "9000"), sample("1", 11, "100"), sample("1", 20, "300")]
    await service.record(stop("1", 600, samples=samples))
    session = the_session(units)
    assert {(r["evse_id"], r["connector_id"]) for r in units.data.samples} == {(2, 1)}
    # 5000 -> 9000, reset, 100 -> 600: the rises of both parts.
    assert (session.energy_wh, session.energy_source, session.meter_anomalies) == (
        4000 + 500,
        "samples",
        1,
    )


async def test_a_start_adopts_the_remote_start_pending_for_its_evse_and_token(service, units):
    pending = Session.open(
        charger_id="CP-1", evse_id=0, connector_id=0, at=T0, id_token="RFID-1", remote_start_id=7
    )
    units.data.sessions[pending.id] = pending
    await service.start(start())
    session = the_session(units)
    assert (session.id, session.status, session.transaction_id) == (pending.id, "active", "1")
    assert (session.evse_id, session.requested_at) == (1, T0)


async def test_a_session_inherits_the_tariff_and_the_vehicle_at_the_bay(service, units):
    units.data.tariffs["CP-1"] = "T-EV"
    units.data.vehicles.append(("CP-1", 1, "ABC123", T0, None))
    units.data.vehicles.append(("CP-1", 2, "XYZ999", T0, None))
    await service.start(start())
    assert (the_session(units).tariff_id, the_session(units).regnum) == ("T-EV", "ABC123")


# Transactions the charger numbers (2.0.1).


async def test_started_updated_ended_gives_the_energy_between_the_registers(service, units):
    await service.record(event("started", 0, id_token="RFID-1", meter_wh=1000))
    await service.record(event("updated", 1, 10))
    auth = await service.record(event("ended", 2, 30, meter_wh=9000, reason="EVDisconnected"))
    session = the_session(units)
    assert auth is None
    assert (session.status, session.energy_wh, session.customer_id) == ("closed", 8000, "cust-1")
    assert units.event_names() == ["ChargingSessionStarted", "ChargingSessionClosed"]


async def test_an_ended_event_for_an_unseen_transaction_opens_and_closes_it(service, units):
    await service.record(event("ended", 3, 30, meter_wh=9000))
    session = the_session(units)
    assert (session.status, session.started_at, session.energy_wh) == (
        "closed",
        T0 + timedelta(minutes=30),
        0,
    )
    assert units.event_names() == ["ChargingSessionStarted", "ChargingSessionClosed"]


async def test_a_retransmitted_started_opens_nothing_twice(service, units):
    await service.record(event("started", 0, meter_wh=1000))
    await service.record(event("started", 0, meter_wh=1000))
    assert len(units.data.sessions) == 1 and units.event_names() == ["ChargingSessionStarted"]


async def test_seq_no_holes_and_offline_events_are_kept_and_late_events_fill_them(service, units):
    await service.record(event("started", 0, meter_wh=1000))
    await service.record(event("updated", 1, 5, offline=True))
    await service.record(event("updated", 4, 20, offline=True))
    await service.record(event("ended", 5, 30, meter_wh=9000))
    assert (the_session(units).missing_seq_nos, the_session(units).offline_events) == ([2, 3], 2)
    await service.record(event("updated", 3, 15, offline=True))  # replayed late
    session = the_session(units)
    assert (session.missing_seq_nos, session.offline_events) == ([2], 3)
    assert (session.status, session.energy_wh) == ("closed", 8000)
    assert units.event_names().count("ChargingSessionClosed") == 1


async def test_a_token_after_plug_in_is_authorized_on_the_session(service, units):
    await service.record(event("started", 0, meter_wh=1000))
    auth = await service.record(event("updated", 1, 2, id_token="RFID-1"))
    assert auth is not None and auth.status == "Accepted"
    session = the_session(units)
    assert (session.id_token, session.auth_status, session.customer_id) == (
        "RFID-1",
        "Accepted",
        "cust-1",
    )


async def test_a_token_charging_elsewhere_is_concurrent_tx(service, units):
    await service.start(start())
    auth = await service.record(event("started", 0, id_token="RFID-1", meter_wh=0))
    assert auth is not None and auth.status == "ConcurrentTx"
    assert units.data.sessions and {s.auth_status for s in units.data.sessions.values()} == {
        "Accepted",
        "ConcurrentTx",
    }
    # Asked again by a later event: still concurrent (the other session, not this one).
    again = await service.record(event("updated", 1, 1, id_token="RFID-1"))
    assert again is not None and again.status == "ConcurrentTx"


async def test_without_registers_the_samples_then_the_intervals_give_the_energy(service, units):
    units.data.samples += [
        sample("TX-1", 5, "1.5", unit="kWh", charger_id="CS-1"),
        sample("TX-1", 25, "4.0", unit="kWh", charger_id="CS-1"),
        sample("TX-1", 25, "9999", phase="L1", charger_id="CS-1"),
    ]
    await service.record(event("started", 0))
    await service.record(event("ended", 1, 30))
    assert (the_session(units).energy_wh, the_session(units).energy_source) == (2500, "samples")
    units.data.samples += [
        sample("TX-2", 5, "700", ENERGY_INTERVAL, charger_id="CS-1"),
        sample("TX-2", 10, "800", ENERGY_INTERVAL, charger_id="CS-1"),
    ]
    await service.record(event("started", 0, tx="TX-2"))
    await service.record(event("ended", 1, 30, tx="TX-2"))
    ended = next(s for s in units.data.sessions.values() if s.transaction_id == "TX-2")
    assert (ended.energy_wh, ended.energy_source) == (1500, "intervals")


async def test_an_event_naming_a_remote_start_adopts_its_pending_session(service, units):
    pending = Session.open(
        charger_id="CS-1", evse_id=0, connector_id=0, at=T0, id_token="RFID-2", remote_start_id=42
    )
    units.data.sessions[pending.id] = pending
    await service.record(event("started", 0, 1, meter_wh=10, remote_start_id=42, evse_id=3))
    session = the_session(units)
    assert (session.id, session.status, session.transaction_id) == (pending.id, "active", "TX-1")
    assert (session.evse_id, session.id_token, session.meter_start_wh) == (3, "RFID-2", 10)


async def test_a_remote_start_not_named_is_not_adopted_by_a_charger_numbered_transaction(
    service, units
):
    pending = Session.open(
        charger_id="CS-1", evse_id=1, connector_id=1, at=T0, id_token="RFID-1", remote_start_id=42
    )
    units.data.sessions[pending.id] = pending
    await service.record(event("started", 0, id_token="RFID-1"))
    assert sorted(s.status for s in units.data.sessions.values()) == ["active", "pending"]
