"""C01 Authorize end to end: an RFID card issued in accounts, presented at a charger, blocked.

All five services in one process: csms looks tokens up in accounts over HTTP with its own API
client, and learns of the block through the IdTokenChanged event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import websockets
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call as call201

from chargepark.platform.config import SERVICES, load_settings
from chargepark.platform.runtime import Platform
from tests.support.procs import free_port

BOOTSTRAP = {
    "CHARGEPARK_BOOTSTRAP_CLIENT_ID": "authz-test",
    "CHARGEPARK_BOOTSTRAP_CLIENT_SECRET": "authz-test-secret-0123456789",
}


@pytest.fixture
async def platform(tmp_path) -> AsyncIterator[Platform]:
    env = {"CHARGEPARK_DATA_DIR": str(tmp_path), **BOOTSTRAP}
    settings = load_settings(env, {"http_port": free_port(), "ocpp_port": free_port()})
    platform = Platform(settings, SERVICES)
    await platform.start()
    yield platform
    await platform.stop()


async def admin_headers(http: aiohttp.ClientSession, base: str) -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_id": BOOTSTRAP["CHARGEPARK_BOOTSTRAP_CLIENT_ID"],
        "client_secret": BOOTSTRAP["CHARGEPARK_BOOTSTRAP_CLIENT_SECRET"],
    }
    async with http.post(f"{base}/accounts/auth/token", data=form) as r:
        return {"Authorization": f"Bearer {(await r.json())['access_token']}"}


async def test_a_card_is_accepted_then_refused_once_blocked(platform):
    base = platform.base_url
    s = platform.settings
    async with aiohttp.ClientSession() as http:
        admin = await admin_headers(http, base)
        async with http.post(f"{base}/charging/chargers", json={"id": "CP-A"}, headers=admin) as r:
            assert r.status == 201
        async with http.post(
            f"{base}/accounts/customers", json={"name": "Ann"}, headers=admin
        ) as r:
            customer = (await r.json())["id"]
        card = {"id_token": "04A1B2C3D4", "type": "ISO14443"}
        async with http.post(
            f"{base}/accounts/customers/{customer}/id-tokens", json=card, headers=admin
        ) as r:
            assert r.status == 201, await r.text()

        url = f"ws://{s.host}:{s.ocpp_port}{s.ocpp_path}/CP-A"
        async with websockets.connect(url, subprotocols=["ocpp1.6"]) as ws:
            cp = Client16("CP-A", ws)
            listener = asyncio.create_task(cp.start())
            answer = await cp.call(call16.Authorize(id_tag="04A1B2C3D4"), suppress=False)
            assert answer.id_tag_info["status"] == "Accepted"
            unknown = await cp.call(call16.Authorize(id_tag="DEADBEEF"), suppress=False)
            assert unknown.id_tag_info["status"] == "Invalid"

            async with http.patch(
                f"{base}/accounts/customers/{customer}/id-tokens/04A1B2C3D4",
                json={"status": "Blocked"},
                headers=admin,
            ) as r:
                assert r.status == 200, await r.text()
            # The event reaches csms's cache well within the cache's freshness window.
            async with asyncio.timeout(10):
                while True:
                    answer = await cp.call(call16.Authorize(id_tag="04A1B2C3D4"), suppress=False)
                    if answer.id_tag_info["status"] == "Blocked":
                        break
                    await asyncio.sleep(0.05)
            listener.cancel()

        async with websockets.connect(url, subprotocols=["ocpp2.0.1"]) as ws:
            cs = Client201("CP-A", ws)
            listener = asyncio.create_task(cs.start())
            answer = await cs.call(
                call201.Authorize(id_token={"id_token": "DEADBEEF", "type": "ISO14443"}),
                suppress=False,
            )
            assert answer.id_token_info["status"] == "Unknown"
            listener.cancel()
