"""The charger gateway over OCPP: each version's payload for the same intent, valid against
that version's schema, and the generic command passed through as the caller spelt it."""

from __future__ import annotations

import pytest

from csms.ocpp.gateway import OcppGateway
from csms.ocpp.gateway.catalog import build_request
from csms.ports.gateway import StartCharging
from tests.support.fakes.csms.gateway import RecordingSender


@pytest.fixture
def gateway() -> tuple[OcppGateway, RecordingSender]:
    sender = RecordingSender()
    return OcppGateway(sender), sender


async def test_a_start_in_each_version(gateway):
    gw, sender = gateway
    await gw.start_charging("CP-1", "1.6", StartCharging("RFID-1", 7, 2))
    await gw.start_charging("CP-1", "1.6", StartCharging("RFID-1", 7))
    await gw.start_charging("CS-1", "2.0.1", StartCharging("APP-1", 7, 3))
    await gw.start_charging("CS-1", "2.0.1", StartCharging("APP-1", 8))
    assert sender.sent == [
        ("CP-1", "RemoteStartTransaction", {"idTag": "RFID-1", "connectorId": 2}),
        ("CP-1", "RemoteStartTransaction", {"idTag": "RFID-1"}),
        (
            "CS-1",
            "RequestStartTransaction",
            {"idToken": {"idToken": "APP-1", "type": "Central"}, "remoteStartId": 7, "evseId": 3},
        ),
        (
            "CS-1",
            "RequestStartTransaction",
            {"idToken": {"idToken": "APP-1", "type": "Central"}, "remoteStartId": 8},
        ),
    ]


async def test_a_stop_in_each_version(gateway):
    gw, sender = gateway
    await gw.stop_charging("CP-1", "1.6", "41")
    await gw.stop_charging("CS-1", "2.0.1", "abc-1")
    assert sender.sent == [
        ("CP-1", "RemoteStopTransaction", {"transactionId": 41}),
        ("CS-1", "RequestStopTransaction", {"transactionId": "abc-1"}),
    ]


async def test_every_payload_built_is_valid_in_its_version(gateway):
    gw, sender = gateway
    await gw.start_charging("CP-1", "1.6", StartCharging("R" * 20, 1, 1))
    await gw.start_charging("CS-1", "2.0.1", StartCharging("A" * 36, 2**31 - 1, 1))
    await gw.stop_charging("CP-1", "1.6", "1")
    await gw.stop_charging("CS-1", "2.0.1", "t")
    for (_, action, payload), version in zip(sender.sent, ["1.6", "2.0.1"] * 2, strict=True):
        build_request(version, action, payload)  # raises InvalidCommand if not


async def test_what_each_version_speaks_and_carries(gateway):
    gw, sender = gateway
    assert gw.speaks("1.6") and gw.speaks("2.0.1") and not gw.speaks(None)
    assert not gw.speaks("2.1")
    assert (gw.id_token_limit("1.6"), gw.id_token_limit("2.0.1")) == (20, 36)
    await gw.send("CP-1", "Reset", {"type": "Soft"}, 5, requested_by="ops")
    assert sender.sent == [("CP-1", "Reset", {"type": "Soft"})]
