"""The platform through its entry points: all five services in one process, and one alone."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator

import aiohttp
import pytest
import websockets
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call as call201

from chargepark.platform.config import MOUNT_PREFIXES, SERVICES, load_settings
from chargepark.platform.runtime import Platform
from tests.support.procs import CHARGEPARK, clean_env, free_port, wait_http
from tests.support.services import (
    NATS_URL,
    create_pg_database,
    drop_pg_database,
    pg_url,
    require_nats,
    require_postgres,
    unique_name,
)


@pytest.fixture
async def platform(tmp_path) -> AsyncIterator[Platform]:
    # Chargers unknown to the registry are admitted here; the registry has its own tests.
    env = {"CHARGEPARK_DATA_DIR": str(tmp_path), "CHARGEPARK_OCPP_UNKNOWN": "accept"}
    settings = load_settings(env, {"http_port": free_port(), "ocpp_port": free_port()})
    platform = Platform(settings, SERVICES)
    await platform.start()
    yield platform
    await platform.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_every_service_answers_health_and_readiness_under_its_prefix(platform, http):
    for service in SERVICES:
        base = platform.base_url + MOUNT_PREFIXES[service]
        async with http.get(base + "/healthz") as r:
            assert r.status == 200
            assert (await r.json())["service"] == service
        async with http.get(base + "/readyz") as r:
            assert r.status == 200


async def test_unknown_paths_at_the_root_and_in_a_service_are_problems(platform, http):
    for path in ("/nowhere", "/parking/nowhere"):
        async with http.get(platform.base_url + path) as r:
            assert r.status == 404
            assert r.content_type == "application/problem+json"


async def test_each_service_documents_its_routes_relative_to_its_prefix(platform, http):
    async with http.get(platform.base_url + "/billing/openapi.json") as r:
        doc = await r.json()
    assert doc["servers"] == [{"url": "/billing"}]
    assert {"/healthz", "/readyz", "/metrics", "/openapi.json"} <= set(doc["paths"])


def ocpp_url(platform: Platform, charger_id: str) -> str:
    s = platform.settings
    return f"ws://{s.host}:{s.ocpp_port}{s.ocpp_path}/{charger_id}"


async def boot(client_cls, ws, request):
    client = client_cls("CP-1", ws)
    listener = asyncio.create_task(client.start())
    try:
        return await client.call(request)
    finally:
        listener.cancel()


async def test_an_ocpp16_charger_boots_and_is_accepted(platform):
    async with websockets.connect(ocpp_url(platform, "CP-16"), subprotocols=["ocpp1.6"]) as ws:
        assert ws.subprotocol == "ocpp1.6"
        result = await boot(
            Client16, ws, call16.BootNotification(charge_point_model="M1", charge_point_vendor="V1")
        )
    assert result.status == "Accepted" and result.interval > 0


async def test_an_ocpp201_charger_boots_and_gets_the_newest_version_offered(platform):
    offered = ["ocpp1.6", "ocpp2.0.1"]
    async with websockets.connect(ocpp_url(platform, "CP-201"), subprotocols=offered) as ws:
        assert ws.subprotocol == "ocpp2.0.1"
        result = await boot(
            Client201,
            ws,
            call201.BootNotification(
                charging_station={"model": "M1", "vendor_name": "V1"}, reason="PowerUp"
            ),
        )
    assert result.status == "Accepted"


async def test_a_client_offering_no_ocpp_version_is_refused_at_the_handshake(platform):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(ocpp_url(platform, "CP-X"), subprotocols=["mqtt"]):
            pass
    assert refused.value.response.status_code == 400


async def test_a_path_without_a_charger_id_is_refused(platform):
    s = platform.settings
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            f"ws://{s.host}:{s.ocpp_port}/elsewhere", subprotocols=["ocpp1.6"]
        ):
            pass
    assert refused.value.response.status_code == 404


async def test_one_service_alone_on_postgres_and_nats_is_ready(http):
    require_postgres()
    require_nats()
    database = await create_pg_database()
    stream = unique_name("E2E").upper()
    env = {
        "CHARGEPARK_DATABASE_URL": pg_url(database),
        "CHARGEPARK_BUS_URL": NATS_URL,
        "CHARGEPARK_BUS_STREAM": stream,
        "CHARGEPARK_BUS_SUBJECT_PREFIX": stream.lower(),
        "CHARGEPARK_MIGRATE_ON_START": "true",
    }
    settings = load_settings(env, {"http_port": free_port()}, services=("parking",))
    platform = Platform(settings, ("parking",))
    try:
        await platform.start()  # the bus connects in the background: not ready at once
        async with asyncio.timeout(15):
            while True:
                async with http.get(platform.base_url + "/readyz") as r:
                    body = await r.json(content_type=None)
                if r.status == 200:
                    break
                await asyncio.sleep(0.1)
        assert body["checks"] == {"database": "ok", "bus": "ok"}
    finally:
        await platform.stop()
        await drop_pg_database(database)
        import nats

        nc = await nats.connect(NATS_URL)
        await nc.jetstream().delete_stream(stream)
        await nc.close()


def test_chargepark_up_serves_then_stops_cleanly_on_sigterm(tmp_path):
    port, ocpp = free_port(), free_port()
    env = clean_env(
        CHARGEPARK_DATA_DIR=str(tmp_path),
        CHARGEPARK_HTTP_PORT=str(port),
        CHARGEPARK_OCPP_PORT=str(ocpp),
    )
    proc = subprocess.Popen(
        [*CHARGEPARK, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        for prefix in MOUNT_PREFIXES.values():
            assert wait_http(f"http://127.0.0.1:{port}{prefix}/healthz") == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "is up" in out
    assert {p.name for p in tmp_path.iterdir() if p.suffix == ".db"} == {
        f"{s}.db" for s in SERVICES
    }


def test_first_start_prints_a_client_whose_token_opens_the_api(tmp_path):
    port, ocpp = free_port(), free_port()
    env = clean_env(
        CHARGEPARK_DATA_DIR=str(tmp_path),
        CHARGEPARK_HTTP_PORT=str(port),
        CHARGEPARK_OCPP_PORT=str(ocpp),
    )
    proc = subprocess.Popen(
        [*CHARGEPARK, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert wait_http(f"http://127.0.0.1:{port}/accounts/healthz") == 200
        lines: dict[str, str] = {}
        for _ in range(30):  # the banner, then the notice with the client
            key, _, value = proc.stdout.readline().partition(":")
            lines[key.strip()] = value.strip()
            if "client_secret" in lines:
                break
        assert "client_secret" in lines, lines
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": lines["client_id"],
                "client_secret": lines["client_secret"],
            }
        ).encode()
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/accounts/auth/token", data=form) as r:
            token = json.load(r)["access_token"]
        request = urllib.request.Request(
            f"{base}/accounts/customers?query=a", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request) as r:
            assert r.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
