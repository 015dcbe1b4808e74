"""The charge point simulator against the embedded platform: every command csms sends is
answered (through csms's command API, as an operator would send it), remote start and stop,
and transaction messages queued while offline and replayed in order on reconnect."""

from __future__ import annotations

from typing import Any

import pytest

from simulators.chargepoint import Vehicle
from tests.support.sim_site import Site

PASSWORD = "sim-charger-password"
# One platform for the module: each test uses its own charger ids.
pytestmark = pytest.mark.asyncio(loop_scope="module")


async def register(site: Site, cp_id: str, **body: Any) -> None:
    await site.client.post("/charging/chargers", {"id": cp_id, **body})


async def card(site: Site, token: str) -> str:
    customer = await site.client.post("/accounts/customers", {"name": "Sim Tester"})
    await site.client.post(
        f"/accounts/customers/{customer['id']}/id-tokens", {"id_token": token, "type": "ISO14443"}
    )
    return customer["id"]


# (action, body, expected status or checks) per version; the order matters (set, then read).
COMMANDS_16: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "120"}, {"status": "Accepted"}),
    (
        "ChangeConfiguration",
        {"key": "MeterValueSampleInterval", "value": "30"},
        {"status": "Accepted"},
    ),
    ("ChangeConfiguration", {"key": "NumberOfConnectors", "value": "4"}, {"status": "Rejected"}),
    ("ChangeConfiguration", {"key": "NoSuchKey", "value": "1"}, {"status": "NotSupported"}),
    (
        "GetConfiguration",
        {"key": ["HeartbeatInterval", "NoSuchKey"]},
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "120"}],
            "unknownKey": ["NoSuchKey"],
        },
    ),
    ("ClearCache", {}, {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "Heartbeat"}, {"status": "Accepted"}),
    (
        "TriggerMessage",
        {"requestedMessage": "MeterValues", "connectorId": 1},
        {"status": "Accepted"},
    ),
    (
        "DataTransfer",
        {"vendorId": "chargepark", "messageId": "echo", "data": "hello"},
        {"status": "Accepted", "data": "hello"},
    ),
    ("DataTransfer", {"vendorId": "ACME"}, {"status": "UnknownVendorId"}),
    ("GetLocalListVersion", {}, {"listVersion": 0}),
    (
        "SendLocalList",
        {
            "listVersion": 4,
            "updateType": "Full",
            "localAuthorizationList": [{"idTag": "LOCAL-1", "idTagInfo": {"status": "Accepted"}}],
        },
        {"status": "Accepted"},
    ),
    ("GetLocalListVersion", {}, {"listVersion": 4}),
    (
        "ReserveNow",
        {
            "connectorId": 2,
            "expiryDate": "2099-01-01T00:00:00Z",
            "idTag": "R-1",
            "reservationId": 7,
        },
        {"status": "Accepted"},
    ),
    ("CancelReservation", {"reservationId": 7}, {"status": "Accepted"}),
    ("CancelReservation", {"reservationId": 7}, {"status": "Rejected"}),
    ("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"}, {"status": "Accepted"}),
    ("ChangeAvailability", {"connectorId": 2, "type": "Operative"}, {"status": "Accepted"}),
    ("UnlockConnector", {"connectorId": 2}, {"status": "Unlocked"}),
    (
        "SetChargingProfile",
        {
            "connectorId": 0,
            "csChargingProfiles": {
                "chargingProfileId": 11,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
                },
            },
        },
        {"status": "Accepted"},
    ),
    ("ClearChargingProfile", {"id": 11}, {"status": "Accepted"}),
    ("ClearChargingProfile", {"id": 11}, {"status": "Unknown"}),
    ("GetCompositeSchedule", {"connectorId": 5, "duration": 60}, {"status": "Rejected"}),
    ("Reset", {"type": "Soft"}, {"status": "Accepted"}),
]
_VAR = {"component": {"name": "OCPPCommCtrlr"}, "variable": {"name": "HeartbeatInterval"}}
_SAMPLE = {"component": {"name": "SampledDataCtrlr"}, "variable": {"name": "TxUpdatedInterval"}}
COMMANDS_201: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "SetVariables",
        {"setVariableData": [{"attributeValue": "30", **_SAMPLE}]},
        {"setVariableResult": [{"attributeStatus": "Accepted", **_SAMPLE}]},
    ),
    (
        "SetVariables",
        {"setVariableData": [{"attributeValue": "120", **_VAR}]},
        {"setVariableResult": [{"attributeStatus": "Accepted", **_VAR}]},
    ),
    (
        "GetVariables",
        {"getVariableData": [_VAR, {"component": {"name": "Nope"}, "variable": {"name": "X"}}]},
        {
            "getVariableResult": [
                {"attributeStatus": "Accepted", "attributeValue": "120", **_VAR},
                {
                    "attributeStatus": "UnknownComponent",
                    "component": {"name": "Nope"},
                    "variable": {"name": "X"},
                },
            ]
        },
    ),
    ("GetBaseReport", {"requestId": 3, "reportBase": "FullInventory"}, {"status": "Accepted"}),
    ("ClearCache", {}, {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "StatusNotification"}, {"status": "Accepted"}),
    ("TriggerMessage", {"requestedMessage": "BootNotification"}, {"status": "Rejected"}),
    (
        "DataTransfer",
        {"vendorId": "chargepark", "messageId": "echo", "data": "hello"},
        {"status": "Accepted", "data": "hello"},
    ),
    ("GetTransactionStatus", {}, {"messagesInQueue": False}),
    (
        "ReserveNow",
        {
            "id": 9,
            "expiryDateTime": "2099-01-01T00:00:00Z",
            "idToken": {"idToken": "R-1", "type": "ISO14443"},
            "evseId": 2,
        },
        {"status": "Accepted"},
    ),
    ("CancelReservation", {"reservationId": 9}, {"status": "Accepted"}),
    (
        "ChangeAvailability",
        {"operationalStatus": "Inoperative", "evse": {"id": 2}},
        {"status": "Accepted"},
    ),
    (
        "ChangeAvailability",
        {"operationalStatus": "Operative", "evse": {"id": 2}},
        {"status": "Accepted"},
    ),
    ("UnlockConnector", {"evseId": 2, "connectorId": 1}, {"status": "Unlocked"}),
    ("UnlockConnector", {"evseId": 5, "connectorId": 1}, {"status": "UnknownConnector"}),
    (
        "SetChargingProfile",
        {
            "evseId": 0,
            "chargingProfile": {
                "id": 11,
                "stackLevel": 1,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Relative",
                "chargingSchedule": [
                    {
                        "id": 1,
                        **{
                            "chargingRateUnit": "A",
                            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16}],
                        },
                    }
                ],
            },
        },
        {"status": "Accepted"},
    ),
    ("ClearChargingProfile", {"chargingProfileId": 11}, {"status": "Accepted"}),
    (
        "GetChargingProfiles",
        {"requestId": 4, "chargingProfile": {"chargingProfilePurpose": "TxDefaultProfile"}},
        {"status": "NoProfiles"},
    ),
    (
        "GetCompositeSchedule",
        {"evseId": 5, "duration": 60},
        {"status": "Rejected", "statusInfo": {"reasonCode": "UnknownEvse"}},
    ),
    ("Reset", {"type": "OnIdle"}, {"status": "Accepted"}),
]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_every_command_csms_sends_is_answered(site, version):
    from csms.ocpp.gateway.catalog import COMMANDS

    table = COMMANDS_16 if version == "1.6" else COMMANDS_201
    assert {a for a, _, _ in table} == set(COMMANDS[version])  # every one, and no others
    cp_id = f"SIM-CMD-{version}"
    await register(site, cp_id, password=PASSWORD)
    async with site.charger(cp_id, version, evses=2, password=PASSWORD) as cp:
        await cp.wait_booted(10)
        for action, body, expected in table:
            answer = await site.command(cp_id, action, body)
            assert answer["status"] == "answered", (action, answer)
            assert answer["response"] == expected, (action, answer["response"])
        # Reset reboots it: it closes, connects again and boots a second time.
        await cp.wait_for(lambda: cp.boots == 2 and cp.accepted, 10)
        assert cp.connects == 2
        # The settings outlived the reboot (the heartbeat interval is the boot's again).
        assert cp.settings["MeterValueSampleInterval"] == "30"
        assert cp.settings["HeartbeatInterval"] == "300"
        assert "reboot" in [e.kind for e in cp.events]
        state = await site.client.get(f"/charging/chargers/{cp_id}")
        assert state["connected"] and state["ocpp_version"] == version


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_remote_start_and_stop_through_the_sessions_api(site, version):
    cp_id = f"SIM-RS-{version}"
    await register(site, cp_id)
    await card(site, f"APPCARD{version[0]}")
    async with site.charger(cp_id, version, evses=2) as cp:
        await cp.wait_booted(10)
        await cp.plug(2, Vehicle(60, 0.5))
        started = await site.client.post(
            "/charging/sessions",
            {"charger_id": cp_id, "evse_id": 2, "id_token": f"APPCARD{version[0]}"},
        )
        await cp.wait_for(lambda: cp.evses[2].tx is not None, 10)
        await cp.charge(2, kwh=2.5)
        _, stopped = await site.client.request(
            "PATCH", f"/charging/sessions/{started['session_id']}/stop"
        )
        assert stopped["status"] == "closed"
        assert (stopped["kwh"], stopped["stop_reason"], stopped["evse_id"]) == (
            "2.500",
            "Remote",
            2,
        )
        answer = await site.command(
            cp_id,
            "TriggerMessage",
            {"requestedMessage": "MeterValues"}
            if version == "1.6"
            else {"requestedMessage": "TransactionEvent"},
        )
        assert answer["response"]["status"] == "Accepted"


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_transaction_messages_queue_offline_and_replay_in_order(site, version):
    cp_id = f"SIM-OFF-{version}"
    await register(site, cp_id)
    token = f"OFFCARD{version[0]}"
    await card(site, token)
    async with site.charger(cp_id, version) as cp:
        await cp.wait_booted(10)
        await cp.plug(1, Vehicle(60, 0.2))
        assert await cp.authorize(1, token) == "Accepted"
        await cp.wait_idle(10)
        await cp.disconnect()
        # Offline: the car charges on, meter samples and the stop queue up.
        await cp.charge(1, kwh=3)
        await cp.stop_transaction(1, id_token=token)
        queued = cp.queue.offline_actions()
        assert len(queued) >= 3
        assert queued[-1] == ("StopTransaction" if version == "1.6" else "TransactionEvent")
        await cp.unplug(1)
        await cp.reconnect(10)
        await cp.wait_idle(10)
        assert cp.queue.replayed == len(queued)
    page = await site.client.get("/charging/sessions", charger_id=cp_id)
    [session] = page["items"]
    assert (session["status"], session["kwh"]) == ("closed", "3.000")
    if version == "2.0.1":
        assert session["offline_events"] == len(queued)
        assert session["missing_seq_nos"] in (None, [])


async def test_a_wrong_password_is_refused_and_retried(site):
    await register(site, "SIM-PW", password=PASSWORD)
    async with site.charger("SIM-PW", "1.6", password="not-the-password-1") as cp:
        event = await cp.wait_event("connect_failed", within=10)
        assert "HTTP 401" in event.text
        assert not cp.connected


async def test_a_pending_charger_retries_its_boot_at_the_interval_given(site):
    await register(site, "SIM-PEND", registration="Pending")
    async with site.charger("SIM-PEND", "2.0.1") as cp:
        await cp.wait_event("boot", within=10, status="Pending")
        await site.client.request(
            "PATCH", "/charging/chargers/SIM-PEND", {"registration": "Accepted"}
        )
        await cp.wait_booted(10)  # the retry came PENDING_RETRY_SEC (60) simulated seconds later
        boots = [e for e in cp.events if e.kind == "boot"]
        assert [e.data["status"] for e in boots][-1] == "Accepted"
        gap = (boots[-1].at - boots[-2].at).total_seconds()
        assert gap >= 60
