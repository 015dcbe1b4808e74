"""The batched OCPP hot path on SQLite and PostgreSQL: status reports, boots and handshake
admission share transactions and queries, and still keep every state change with its event."""

from __future__ import annotations

import asyncio

import pytest

from csms.adapters.tables import metadata
from csms.domain.chargers import BootInfo, Registration, UnknownCharger
from csms.hotpath import admission
from csms.services.chargers import (
    Admission,
    ChangeCharger,
    ChargingService,
    RegisterCharger,
)
from tests.conftest import T0
from tests.support.hot_path import Units, status, status_events, stored_connectors

PASSWORD = "sixteen-chars-pw!"
NEW_PASSWORD = "another-password-16"
INFO = BootInfo("ACME", "AC-22", "SN-1", "1.0")


@pytest.fixture
async def units(any_db, clock) -> Units:
    async with any_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return Units(any_db, clock)


async def registered(service: ChargingService, *ids: str, password: str | None = None) -> None:
    for charger_id in ids:
        await service.register(RegisterCharger(id=charger_id, password=password))


async def test_status_reports_of_many_chargers_commit_together_each_change_with_its_event(
    units, clock
):
    service = ChargingService(units, clock)
    ids = [f"CP-{n}" for n in range(20)]
    await registered(service, *ids)
    before = units.opened
    await asyncio.gather(*(service.report_status(status(i, "Charging")) for i in ids))
    assert units.opened - before < len(ids)  # shared transactions
    await asyncio.gather(
        *(service.report_status(status(i, "Charging", seconds=1)) for i in ids[:5]),  # repeats
        *(service.report_status(status(i, "SuspendedEV", seconds=1)) for i in ids[5:]),
    )
    stored = await stored_connectors(units.db)
    assert stored == {(i, 1): "Charging" for i in ids[:5]} | {
        (i, 1): "SuspendedEV" for i in ids[5:]
    }
    events = await status_events(units.db)
    assert sorted(events) == sorted(
        [(i, 1, "Charging") for i in ids] + [(i, 1, "SuspendedEV") for i in ids[5:]]
    )  # one per change, none for a repeat
    await service.close()


async def test_one_chargers_reports_keep_their_order_and_a_late_older_one_changes_nothing(
    units, clock
):
    service = ChargingService(units, clock)
    await registered(service, "CP-1")
    states = ["Available", "Preparing", "Charging", "SuspendedEV", "Finishing"]
    await asyncio.gather(
        *(service.report_status(status("CP-1", s, seconds=n)) for n, s in enumerate(states))
    )
    await service.report_status(status("CP-1", "Faulted", seconds=-5))  # queued, delivered late
    assert await stored_connectors(units.db) == {("CP-1", 1): "Finishing"}
    assert [s for _, _, s in await status_events(units.db)] == states
    await service.close()


async def test_a_report_for_an_unknown_charger_fails_alone(units, clock):
    service = ChargingService(units, clock)
    await registered(service, "CP-1", "CP-2")
    results = await asyncio.gather(
        service.report_status(status("CP-1", "Charging")),
        service.report_status(status("CP-NONE", "Charging")),
        service.report_status(status("CP-2", "Charging")),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], UnknownCharger)
    assert await stored_connectors(units.db) == {("CP-1", 1): "Charging", ("CP-2", 1): "Charging"}
    await service.close()


async def test_a_boot_storm_shares_transactions_and_registers_unknown_ids_per_policy(units, clock):
    service = ChargingService(units, clock, unknown_policy="pending")
    await service.register(RegisterCharger(id="CP-KNOWN", vendor="ACME", model="AC-11"))
    before = units.opened
    answers = await asyncio.gather(
        service.boot("CP-KNOWN", INFO, "1.6"),  # the registered model is another one
        *(service.boot(f"CP-NEW-{n}", INFO, "1.6") for n in range(30)),
    )
    assert answers[0] == Registration.REJECTED
    assert set(answers[1:]) == {Registration.PENDING}
    assert units.opened - before < 31
    for charger_id in ("CP-KNOWN", "CP-NEW-7"):
        charger = await service.get(charger_id)
        assert (charger.model, charger.ocpp_version, charger.last_boot_at) == ("AC-22", "1.6", T0)
    await service.close()


async def test_handshakes_are_looked_up_together_and_then_answered_from_memory(units, clock):
    service = ChargingService(units, clock, unknown_policy="reject")
    ids = [f"CP-{n}" for n in range(25)]
    await registered(service, *ids)
    before = units.opened
    answers = await asyncio.gather(*(service.admit(i, None) for i in [*ids, "CP-NONE"]))
    assert answers == [Admission.ACCEPT] * 25 + [Admission.UNKNOWN_REJECT]
    assert units.opened - before < 26
    before = units.opened
    assert await service.admit("CP-3", None) is Admission.ACCEPT
    assert units.opened == before  # cached
    await service.close()


async def test_a_changed_password_applies_at_the_next_handshake(units, clock, monkeypatch):
    service = ChargingService(units, clock)
    await registered(service, "CP-1", password=PASSWORD)
    verified = []
    real_verify = admission.verify_password

    async def counted(stored: str, password: str) -> bool:
        verified.append(password)
        return await real_verify(stored, password)

    monkeypatch.setattr(admission, "verify_password", counted)
    for _ in range(3):
        assert await service.admit("CP-1", PASSWORD) is Admission.ACCEPT
    assert verified == [PASSWORD]  # argon2 once per charger and password
    assert await service.admit("CP-1", None) is Admission.UNAUTHORIZED
    assert await service.admit("CP-1", "wrong-password-123") is Admission.UNAUTHORIZED

    await service.change(ChangeCharger("CP-1", {"password": NEW_PASSWORD}))
    assert await service.admit("CP-1", PASSWORD) is Admission.UNAUTHORIZED
    assert await service.admit("CP-1", NEW_PASSWORD) is Admission.ACCEPT

    await service.change(ChangeCharger("CP-1", {"password": None}))
    assert await service.admit("CP-1", None) is Admission.ACCEPT
    await service.close()


async def test_a_removed_charger_is_unknown_at_the_next_handshake(units, clock):
    service = ChargingService(units, clock, unknown_policy="reject")
    await registered(service, "CP-1")
    assert await service.admit("CP-1", None) is Admission.ACCEPT
    await service.remove("CP-1")
    assert await service.admit("CP-1", None) is Admission.UNKNOWN_REJECT
    await service.close()


async def test_a_registration_cached_by_another_node_is_read_again_after_its_ttl(units, clock):
    now = [0.0]
    gate = admission.ChargerAdmission(units, "reject", ttl_sec=60, monotonic=lambda: now[0])
    service = ChargingService(units, clock)
    await registered(service, "CP-1")
    assert await gate.admit("CP-1", None) is Admission.ACCEPT
    await service.remove("CP-1")  # through another node's REST: this cache is not told
    assert await gate.admit("CP-1", None) is Admission.ACCEPT
    now[0] = 61.0
    assert await gate.admit("CP-1", None) is Admission.UNKNOWN_REJECT
    await gate.close()
    await service.close()
