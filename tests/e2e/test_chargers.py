"""csms through its real edges: the charger registry over REST, chargers over OCPP-J."""

from __future__ import annotations

import asyncio
import base64

import pytest
import websockets
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.platform.config import load_settings
from chargepark.platform.runtime import Platform
from tests.support.chargers import (
    Charger,
    Csms,
    boot16,
    charger_state,
    connect,
    register,
    start_csms,
)
from tests.support.procs import free_port
from tests.support.tokens import TokenIssuer

PASSWORD = "sixteen-chars-pw!"


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_a_registered_charger_with_a_password_must_present_it(http, csms):
    assert (await register(http, csms, id="CP-1", password=PASSWORD)).status == 201
    for headers in (None, basic("CP-1", "wrong-password-123"), basic("CP-2", PASSWORD)):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await connect(csms, "CP-1", headers=headers)
        assert refused.value.response.status_code == 401
    charger = await connect(csms, "CP-1", headers=basic("CP-1", PASSWORD))
    result = await charger.call(boot16())
    assert result.status == "Accepted" and result.interval == 300
    state = await charger_state(http, csms, "CP-1")
    assert state["connected"] and state["ocpp_version"] == "1.6"
    assert (state["vendor"], state["model"], state["serial_number"]) == ("ACME", "AC-22", "SN-1")
    assert state["has_password"] and state["last_boot_at"]
    await charger.close()


async def test_status_notifications_are_kept_per_connector_and_published(http, csms):
    await register(http, csms, id="CP-S")
    charger = await connect(csms, "CP-S")
    await charger.call(boot16())
    await charger.call(
        call16.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted")
    )
    await charger.call(
        call16.StatusNotification(connector_id=0, error_code="NoError", status="Available")
    )
    await charger.call(
        call16.StatusNotification(connector_id=1, error_code="GroundFailure", status="Faulted")
    )  # a repeat: no event
    state = await charger_state(http, csms, "CP-S")
    assert [
        (c["evse_id"], c["connector_id"], c["status"], c["error_code"]) for c in state["connectors"]
    ] == [(0, 0, "Available", None), (1, 1, "Faulted", "GroundFailure")]
    async with asyncio.timeout(5):
        while len(csms.events) < 2:  # noqa: ASYNC110 - the relay delivers on its own task
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    statuses = [e for e in csms.events if e["event"] == "ChargerStatusChanged"]
    assert [(e["evse_id"], e["status"]) for e in statuses] == [(1, "Faulted"), (0, "Available")]
    assert statuses[0]["error_code"] == "GroundFailure"
    await charger.close()


async def test_an_ocpp201_station_boots_and_reports_evse_status(http, csms):
    await register(http, csms, id="CS-201")
    charger = await connect(csms, "CS-201", version="2.0.1")
    result = await charger.call(
        call201.BootNotification(
            charging_station={"model": "DC-150", "vendor_name": "Volt"}, reason="PowerUp"
        )
    )
    assert result.status == "Accepted"
    await charger.call(
        call201.StatusNotification(
            timestamp="2026-11-27T10:00:00Z", connector_status="Occupied", evse_id=2, connector_id=1
        )
    )
    state = await charger_state(http, csms, "CS-201")
    assert state["ocpp_version"] == "2.0.1" and state["model"] == "DC-150"
    assert state["connectors"][0] | {"status_at": None} == {
        "evse_id": 2,
        "connector_id": 1,
        "status": "Occupied",
        "error_code": None,
        "info": None,
        "status_at": None,
    }
    await charger.close()


async def test_a_201_call_with_custom_data_gets_the_same_answer(http, csms):
    # 2.0.1 Part 2, 2.1.1: every message may carry customData (vendor extensions) at its root.
    await register(http, csms, id="CS-CD")
    charger = await connect(csms, "CS-CD", version="2.0.1")
    result = await charger.call(call201.Heartbeat(custom_data={"vendor_id": "ACME", "fw": 7}))
    assert result.current_time
    await charger.close()


async def test_a_charger_that_is_not_the_registered_model_is_rejected(http, csms):
    await register(http, csms, id="CP-M", vendor="ACME", model="AC-22")
    charger = await connect(csms, "CP-M")
    assert (await charger.call(boot16(model="AC-11"))).status == "Rejected"
    assert (await charger.call(boot16(model="AC-22"))).status == "Accepted"
    await charger.close()


async def test_a_second_connection_replaces_the_first(http, csms):
    await register(http, csms, id="CP-R")
    first = await connect(csms, "CP-R")
    second = await connect(csms, "CP-R")
    async with asyncio.timeout(5):
        await first.ws.wait_closed()
    assert first.ws.close_reason == "replaced by a newer connection"
    assert (await second.call(call16.Heartbeat())).current_time
    assert (await charger_state(http, csms, "CP-R"))["connected"]
    await second.close()
    await first.close()


async def test_unknown_chargers_are_refused_by_default(csms):
    with pytest.raises(websockets.InvalidStatus) as refused:
        await connect(csms, "CP-UNKNOWN")
    assert refused.value.response.status_code == 404


@pytest.mark.parametrize(("policy", "answer"), [("pending", "Pending"), ("accept", "Accepted")])
async def test_unknown_chargers_follow_the_policy(tmp_path, http, policy, answer):
    platform, csms = await start_csms(tmp_path, policy)
    try:
        charger = await connect(csms, "CP-NEW")
        result = await charger.call(boot16())
        assert result.status == answer
        assert result.interval == (300 if answer == "Accepted" else 60)
        assert (await charger_state(http, csms, "CP-NEW"))["registration"] == answer
        await charger.close()
    finally:
        await platform.stop()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"id": "has space"}, 422),
        ({"id": "x" * 49}, 422),
        ({"id": "CP-P", "password": "short"}, 422),
        ({"id": "CP-P", "color": "red"}, 422),
        ({}, 422),
    ],
)
async def test_bad_registrations_are_problems(http, csms, body, status):
    async with http.post(csms.url("/chargers"), json=body, headers=csms.headers) as r:
        assert r.status == status
        assert r.content_type == "application/problem+json"


async def test_the_registry_lists_changes_and_removes(http, csms):
    for cp_id in ("CP-B", "CP-A"):
        assert (await register(http, csms, id=cp_id)).status == 201
    assert (await register(http, csms, id="CP-A")).status == 409
    async with http.get(csms.url("/chargers?limit=1"), headers=csms.headers) as r:
        page = await r.json()
    assert page["total"] == 2 and [c["id"] for c in page["items"]] == ["CP-A"]
    async with http.patch(
        csms.url("/chargers/CP-A"), json={"tariff_id": "T_STD"}, headers=csms.headers
    ) as r:
        assert (await r.json())["tariff_id"] == "T_STD"
    async with http.delete(csms.url("/chargers/CP-A"), headers=csms.headers) as r:
        assert r.status == 204
    async with http.get(csms.url("/chargers/CP-A"), headers=csms.headers) as r:
        assert r.status == 404
    async with http.get(csms.url("/chargers?limit=0"), headers=csms.headers) as r:
        assert r.status == 422


async def test_bad_frames_get_callerrors_and_the_charger_stays_connected(http, csms):
    import json

    await register(http, csms, id="CP-BAD")
    async with websockets.connect(f"{csms.ocpp}/CP-BAD", subprotocols=["ocpp1.6"]) as ws:
        await ws.send(json.dumps([2, "m1", "FlyToMoon", {}]))
        assert json.loads(await ws.recv())[:3] == [4, "m1", "NotImplemented"]
        await ws.send(json.dumps([2, "m2", "Heartbeat", {"extra": 1}]))
        assert json.loads(await ws.recv())[:3] == [4, "m2", "FormationViolation"]
        await ws.send(json.dumps([2, "m3", "Heartbeat", {}]))
        answer = json.loads(await ws.recv())
        assert answer[:2] == [3, "m3"] and "currentTime" in answer[2]


async def test_security_profile_2_serves_the_same_endpoint_over_tls(tmp_path, http):
    import ssl

    from tests.support.tls import make_pki

    pki = make_pki(tmp_path)
    tls_port = free_port()
    issuer = TokenIssuer()
    env = {
        "CHARGEPARK_DATA_DIR": str(tmp_path),
        "CHARGEPARK_OCPP_TLS_PORT": str(tls_port),
        "CHARGEPARK_OCPP_TLS_CERT": str(pki.cert_file),
        "CHARGEPARK_OCPP_TLS_KEY": str(pki.key_file),
    }
    settings = load_settings(
        env, {"http_port": free_port(), "ocpp_port": free_port()}, services=("csms",)
    )
    platform = Platform(settings, ("csms",), verifier=TokenVerifier(StaticJwks(issuer.jwks)))
    await platform.start()
    try:
        csms = Csms(platform, issuer.issue("charging:write"), [], platform.bus)
        await register(http, csms, id="CP-TLS", password=PASSWORD)
        trust = ssl.create_default_context(cafile=str(pki.ca_file))
        url = f"wss://127.0.0.1:{tls_port}/ocpp/CP-TLS"
        async with websockets.connect(
            url, subprotocols=["ocpp1.6"], ssl=trust, additional_headers=basic("CP-TLS", PASSWORD)
        ) as ws:
            charger = Charger(Client16("CP-TLS", ws), ws)
            assert (await charger.call(boot16())).status == "Accepted"
            charger.listener.cancel()
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, subprotocols=["ocpp1.6"], ssl=trust)
        assert refused.value.response.status_code == 401
        with pytest.raises(ssl.SSLError):  # a client that does not trust the CA
            await websockets.connect(
                url, subprotocols=["ocpp1.6"], ssl=ssl.create_default_context()
            )
    finally:
        await platform.stop()


async def test_last_seen_times_reach_the_database_in_one_batch(http, csms):
    from datetime import UTC, datetime

    for cp_id in ("CP-T1", "CP-T2"):
        await register(http, csms, id=cp_id)
    from csms.api import SERVICE

    app = csms.platform.hosts[0].parts.app
    at = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    await app[SERVICE].record_seen({"CP-T1": at, "CP-T2": at})
    for cp_id in ("CP-T1", "CP-T2"):
        assert (await charger_state(http, csms, cp_id))["last_seen_at"] == "2026-11-27T12:00:00Z"


async def test_a_charger_whose_socket_closes_is_offline_until_it_connects_again(http, csms):
    """csms says so itself (EVSE 0, connector 0): a charger that went away sends nothing."""
    await register(http, csms, id="CP-O")

    async def whole_charger() -> list[str]:
        await asyncio.sleep(0.1)
        return [
            e["status"]
            for e in csms.events
            if e["event"] == "ChargerStatusChanged"
            and e["charger_id"] == "CP-O"
            and e["evse_id"] == 0
        ]

    async def until(statuses: list[str]) -> None:
        async with asyncio.timeout(5):
            while await whole_charger() != statuses:
                pass

    charger = await connect(csms, "CP-O")
    await charger.call(boot16())
    await charger.close()
    await until(["Offline"])
    state = await charger_state(http, csms, "CP-O")
    assert not state["connected"]
    assert [(c["evse_id"], c["status"]) for c in state["connectors"]] == [(0, "Offline")]

    charger = await connect(csms, "CP-O")
    await until(["Offline", "Available"])
    await charger.call(
        call16.StatusNotification(connector_id=0, error_code="NoError", status="Unavailable")
    )
    await until(["Offline", "Available", "Unavailable"])
    await charger.close()
    await until(["Offline", "Available", "Unavailable", "Offline"])


async def test_a_charger_silent_past_the_silence_timeout_is_disconnected_and_offline(
    http, tmp_path
):
    """Its socket is open and answers pings, but no OCPP frame comes: csms closes it."""
    platform, csms = await start_csms(tmp_path, env={"CHARGEPARK_OCPP_SILENCE_TIMEOUT": "2"})
    try:
        for cp_id in ("CP-SILENT", "CP-TALKS"):
            await register(http, csms, id=cp_id)
        silent, talks = await connect(csms, "CP-SILENT"), await connect(csms, "CP-TALKS")
        await silent.call(boot16())
        await talks.call(boot16())
        began = asyncio.get_running_loop().time()
        async with asyncio.timeout(8):
            while silent.ws.close_code is None:
                await talks.call(call16.Heartbeat())  # one frame every 0.3 s: never silent
                await asyncio.sleep(0.3)
        assert asyncio.get_running_loop().time() - began >= 2
        assert silent.ws.close_reason == "no OCPP message for 2 s"

        def offline() -> list[str]:
            return [
                e["charger_id"]
                for e in csms.events
                if e["event"] == "ChargerStatusChanged" and e["status"] == "Offline"
            ]

        async with asyncio.timeout(5):
            while (await charger_state(http, csms, "CP-SILENT"))["connected"] or not offline():  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert offline() == ["CP-SILENT"]
        assert (await charger_state(http, csms, "CP-TALKS"))["connected"]
        await talks.close()
    finally:
        await platform.stop()


async def test_the_charger_list_documents_its_page_parameters_and_their_422(http, csms):
    async with http.get(csms.url("/openapi.json")) as r:
        listing = (await r.json())["paths"]["/chargers"]["get"]
    params = {p["name"]: p["schema"] for p in listing["parameters"]}
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 200}
    assert "422" in listing["responses"]
    async with http.get(csms.url("/chargers?limit=0"), headers=csms.headers) as r:
        assert r.status == 422 and r.content_type == "application/problem+json"
