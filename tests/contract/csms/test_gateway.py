"""The ChargerGateway port: the fake the unit tests use and the OCPP gateway (over a sender
that records the CALLs) agree on what they speak and on passing outcomes through."""

from __future__ import annotations

import pytest

from csms.ocpp.gateway import OcppGateway
from csms.ports.gateway import CommandOutcome, CommandStatus, StartCharging
from tests.support.fakes.csms.gateway import FakeGateway, RecordingSender


@pytest.fixture(params=["fake", "ocpp"])
def gateway(request):
    if request.param == "fake":
        fake = FakeGateway()
        return fake, fake
    sender = RecordingSender()
    return OcppGateway(sender), sender


def test_the_versions_spoken_and_their_id_token_limits(gateway):
    gw, _ = gateway
    assert [gw.speaks(v) for v in ("1.6", "2.0.1", "2.1", None)] == [True, True, False, False]
    assert (gw.id_token_limit("1.6"), gw.id_token_limit("2.0.1")) == (20, 36)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_every_call_answers_the_outcome_the_charger_gave(gateway, version):
    gw, answers = gateway
    assert (await gw.start_charging("CP-1", version, StartCharging("T", 1, 1))).answered
    timeout = CommandOutcome(CommandStatus.TIMEOUT, "any", detail="no answer within 30 s")
    answers.outcome = timeout
    assert await gw.stop_charging("CP-1", version, "7") == timeout
    assert await gw.send("CP-1", "Reset", {"type": "Soft"}, requested_by="ops") == timeout
