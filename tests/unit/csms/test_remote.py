"""Remote start and stop against an in-memory store and gateway: what the service asks of the
charger, and what each outcome does to the session."""

from __future__ import annotations

import pytest

from chargepark.errors import Invalid, UpstreamFailed, UpstreamTimeout
from csms.domain.chargers import Charger, Registration
from csms.domain.sessions import Session
from csms.ports.gateway import CallErrorReply, CommandOutcome, CommandStatus, StartCharging
from csms.services.remote import (
    PENDING_FOR,
    ChargerFailed,
    ChargerSilent,
    CommandRefused,
    RemoteControl,
    RemoteStart,
)
from tests.conftest import T0
from tests.support.fakes.csms.gateway import FakeGateway
from tests.support.fakes.csms.remote_starts import InMemoryRemoteStarts


@pytest.fixture
def parts(clock):
    store = InMemoryRemoteStarts()
    for cp_id, version in (("CP-16", "1.6"), ("CS-201", "2.0.1"), ("CP-NEW", None)):
        store.chargers[cp_id] = Charger(
            cp_id, Registration.ACCEPTED, T0, T0, tariff_id="T-9", ocpp_version=version
        )
    gateway = FakeGateway()
    return RemoteControl(store, gateway, clock, stop_wait_sec=0.0), store, gateway


def active(cp_id: str, tx: str) -> Session:
    return Session(
        id=f"s-{cp_id}",
        charger_id=cp_id,
        transaction_id=tx,
        evse_id=1,
        connector_id=1,
        started_at=T0,
    )


async def test_a_start_is_pending_and_asks_the_gateway_in_the_chargers_version(parts):
    remote, store, gateway = parts
    store.vehicles[("CP-16", 2)] = "ABC-123"
    session, outcome = await remote.start(RemoteStart("CP-16", "RFID-1", 2, requested_by="u-1"))
    assert outcome.answered and session.status == "pending"
    assert (session.regnum, session.tariff_id, session.evse_id) == ("ABC-123", "T-9", 2)
    [(charger, what, version, start)] = gateway.sent
    assert (charger, what, version) == ("CP-16", "start", "1.6")
    assert start == StartCharging("RFID-1", session.remote_start_id, 2)
    assert (await store.get(session.id)).status == "pending"


async def test_a_charger_not_yet_booted_or_a_token_too_long_is_refused_before_sending(parts):
    remote, _, gateway = parts
    with pytest.raises(CommandRefused):
        await remote.start(RemoteStart("CP-NEW", "RFID-1"))
    with pytest.raises(Invalid):
        await remote.start(RemoteStart("CP-16", "X" * 21))
    await remote.start(RemoteStart("CS-201", "X" * 36))
    assert [sent[1:3] for sent in gateway.sent] == [("start", "2.0.1")]


async def test_the_live_sockets_version_wins_over_the_last_boot(parts):
    remote, _, gateway = parts

    async def live_version(charger_id: str) -> str | None:
        return "2.0.1"

    remote.live_version = live_version
    await remote.start(RemoteStart("CP-16", "APP-2"))
    assert gateway.sent[-1][2] == "2.0.1"


async def test_a_charger_error_is_an_upstream_failure_and_fails_the_session(parts):
    remote, store, gateway = parts
    gateway.outcome = CommandOutcome(
        CommandStatus.ERROR, "RemoteStartTransaction", error=CallErrorReply("NotSupported", "", {})
    )
    with pytest.raises(ChargerFailed) as failed:
        await remote.start(RemoteStart("CP-16", "RFID-1"))
    assert isinstance(failed.value, UpstreamFailed) and failed.value.status == 502
    assert failed.value.kind == "charger-error"
    assert failed.value.extra["ocpp_error"] == "NotSupported"
    session = await store.get(failed.value.extra["session_id"])
    assert (session.status, session.stop_reason) == ("failed", "ChargerError")


@pytest.mark.parametrize(
    ("outcome", "error", "reason"),
    [
        (CommandOutcome(CommandStatus.OFFLINE, "A"), CommandRefused, "ChargerOffline"),
        (CommandOutcome(CommandStatus.INVALID, "A", detail="no"), Invalid, "Invalid"),
        (
            CommandOutcome(CommandStatus.ANSWERED, "A", response={"status": "Rejected"}),
            CommandRefused,
            "RemoteStartRejected",
        ),
    ],
)
async def test_a_start_not_taken_fails_the_session_for_its_reason(parts, outcome, error, reason):
    remote, store, gateway = parts
    gateway.outcome = outcome
    with pytest.raises(error):
        await remote.start(RemoteStart("CP-16", "RFID-1"))
    [session] = store.sessions.values()
    assert (session.status, session.stop_reason) == ("failed", reason)


async def test_an_unanswered_start_stays_pending_until_it_expires(parts, clock):
    remote, _, gateway = parts
    gateway.outcome = CommandOutcome(CommandStatus.TIMEOUT, "RemoteStartTransaction")
    session, outcome = await remote.start(RemoteStart("CP-16", "RFID-1"))
    assert outcome.status is CommandStatus.TIMEOUT and session.status == "pending"
    clock.advance(seconds=PENDING_FOR.total_seconds() - 1)
    assert await remote.expire_pending() == 0
    clock.advance(seconds=2)
    assert await remote.expire_pending() == 1


async def test_a_start_the_charger_already_had_running_is_merged_into_it(parts):
    remote, store, gateway = parts
    await store.add(active("CS-201", "tx-9"))
    gateway.outcome = CommandOutcome(
        CommandStatus.ANSWERED, "A", response={"status": "Accepted", "transactionId": "tx-9"}
    )
    session, _ = await remote.start(RemoteStart("CS-201", "APP-1"))
    assert session.id == "s-CS-201"
    [placeholder] = [s for s in store.sessions.values() if s.id != "s-CS-201"]
    assert (placeholder.status, placeholder.stop_reason) == ("failed", "Merged")


async def test_stop_asks_for_the_transaction_and_names_each_failure(parts):
    remote, store, gateway = parts
    await store.add(active("CP-16", "41"))
    result = await remote.stop("s-CP-16", requested_by="u-1")
    assert not result.finished and gateway.sent == [("CP-16", "stop", "1.6", "41")]
    gateway.outcome = CommandOutcome(CommandStatus.TIMEOUT, "RemoteStopTransaction")
    with pytest.raises(ChargerSilent) as silent:
        await remote.stop("s-CP-16")
    assert isinstance(silent.value, UpstreamTimeout) and silent.value.status == 504
    assert silent.value.extra == {"session_id": "s-CP-16"}
    gateway.outcome = CommandOutcome(CommandStatus.ERROR, "RemoteStopTransaction", detail="bad")
    with pytest.raises(ChargerFailed):
        await remote.stop("s-CP-16")


async def test_stopping_a_pending_start_cancels_it_and_stopping_twice_is_no_error(parts):
    remote, _, gateway = parts
    session, _ = await remote.start(RemoteStart("CP-16", "RFID-1"))
    result = await remote.stop(session.id)
    assert result.finished and result.session.stop_reason == "Cancelled"
    assert (await remote.stop(session.id)).finished
    assert [sent[1] for sent in gateway.sent] == ["start"]
