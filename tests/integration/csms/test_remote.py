"""Remote start/stop with a fake command sender: the requests each version gets, what each outcome
does to the session, and pending starts nobody began."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from csms.adapters.remote_starts import SqlRemoteStarts
from csms.adapters.repository import CsmsUnitOfWork
from csms.adapters.session_queries import SessionQueries
from csms.adapters.tables import kernel
from csms.domain.chargers import BootInfo
from csms.domain.sessions import Session
from csms.ocpp.gateway import OcppGateway
from csms.ports.gateway import CallErrorReply, CommandOutcome, CommandStatus
from csms.services.chargers import ChargingService, RegisterCharger
from csms.services.remote import (
    PENDING_FOR,
    ChargerFailed,
    ChargerSilent,
    CommandRefused,
    RemoteControl,
    RemoteStart,
)
from tests.support import templates


class FakePort:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.outcome: CommandOutcome | None = None

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = 30.0,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        self.sent.append((charger_id, action, dict(payload)))
        return self.outcome or CommandOutcome(
            CommandStatus.ANSWERED, action, response={"status": "Accepted"}
        )


@pytest.fixture
async def parts(sqlite_db, clock):
    await templates.migrated("csms", sqlite_db)

    def uow() -> CsmsUnitOfWork:
        return CsmsUnitOfWork(sqlite_db, kernel.outbox, clock, lambda: None)

    service = ChargingService(uow, clock)
    for cp_id, version in (("CP-16", "1.6"), ("CS-201", "2.0.1")):
        await service.register(RegisterCharger(id=cp_id, tariff_id="T-9"))
        await service.boot(cp_id, BootInfo("ACME", "X"), version)
    port = FakePort()
    remote = RemoteControl(
        SqlRemoteStarts(uow, SessionQueries(sqlite_db)), OcppGateway(port), clock, stop_wait_sec=0.2
    )
    return remote, port, uow


async def test_each_version_gets_its_own_start_request(parts):
    remote, port, _ = parts
    s16, _ = await remote.start(RemoteStart("CP-16", "RFID-1", 2))
    s201, _ = await remote.start(RemoteStart("CS-201", "APP-1"))
    assert port.sent[0] == (
        "CP-16",
        "RemoteStartTransaction",
        {"idTag": "RFID-1", "connectorId": 2},
    )
    assert port.sent[1] == (
        "CS-201",
        "RequestStartTransaction",
        {"idToken": {"idToken": "APP-1", "type": "Central"}, "remoteStartId": s201.remote_start_id},
    )
    assert s16.status == s201.status == "pending"
    assert s16.tariff_id == "T-9" and s201.remote_start_id > 0


async def test_a_charger_error_fails_the_session_and_names_the_code(parts):
    remote, port, _ = parts
    port.outcome = CommandOutcome(
        CommandStatus.ERROR,
        "RemoteStartTransaction",
        error=CallErrorReply("NotSupported", "no", {}),
    )
    with pytest.raises(ChargerFailed) as failed:
        await remote.start(RemoteStart("CP-16", "RFID-1"))
    assert failed.value.status == 502 and failed.value.extra["ocpp_error"] == "NotSupported"
    session = await remote.store.get(failed.value.extra["session_id"])
    assert (session.status, session.stop_reason) == ("failed", "ChargerError")


async def test_an_unanswered_start_stays_pending_until_it_expires(parts, clock):
    remote, port, _ = parts
    port.outcome = CommandOutcome(CommandStatus.TIMEOUT, "RemoteStartTransaction")
    session, outcome = await remote.start(RemoteStart("CP-16", "RFID-1"))
    assert outcome.status is CommandStatus.TIMEOUT and session.status == "pending"
    clock.advance(seconds=PENDING_FOR.total_seconds() - 1)
    assert await remote.expire_pending() == 0
    clock.advance(seconds=2)
    assert await remote.expire_pending() == 1
    expired = await remote.store.get(session.id)
    assert (expired.status, expired.stop_reason) == ("failed", "NotStarted")


async def test_stop_sends_the_transaction_id_in_the_version_type(parts, clock):
    remote, port, uow = parts
    async with uow() as unit:
        for cp_id, tx in (("CP-16", "41"), ("CS-201", "abc-1")):
            await unit.sessions.add(
                Session(
                    id=f"s-{cp_id}",
                    charger_id=cp_id,
                    transaction_id=tx,
                    evse_id=1,
                    connector_id=1,
                    started_at=clock.now(),
                )
            )
        await unit.commit()
    result = await remote.stop("s-CP-16")
    assert not result.finished  # accepted, but nothing ended the transaction within the wait
    await remote.stop("s-CS-201")
    assert port.sent[0][1:] == ("RemoteStopTransaction", {"transactionId": 41})
    assert port.sent[1][1:] == ("RequestStopTransaction", {"transactionId": "abc-1"})
    port.outcome = CommandOutcome(CommandStatus.TIMEOUT, "RemoteStopTransaction")
    with pytest.raises(ChargerSilent):
        await remote.stop("s-CP-16")
    port.outcome = CommandOutcome(
        CommandStatus.ANSWERED, "RemoteStopTransaction", response={"status": "Rejected"}
    )
    with pytest.raises(CommandRefused):
        await remote.stop("s-CP-16")


async def test_the_version_of_the_live_socket_wins_over_the_last_boot(parts, clock):
    remote, port, _ = parts
    # CP-16 booted as 1.6 and has come back speaking 2.0.1, not booted yet.

    async def live_version(charger_id: str) -> str | None:
        return {"CP-16": "2.0.1"}.get(charger_id)

    remote.live_version = live_version
    await remote.start(RemoteStart("CP-16", "APP-2"))
    assert port.sent[-1][1] == "RequestStartTransaction"
