"""csms embedded in this process (its REST API and OCPP endpoint), OCPP clients connected to it,
and the REST calls and waits the csms end-to-end tests share."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import websockets
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as Client201

from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.events.inprocess import InProcessBus
from chargepark.platform.config import load_settings
from chargepark.platform.runtime import Platform
from tests.support import templates
from tests.support.procs import free_port
from tests.support.tokens import TokenIssuer


class Csms:
    def __init__(
        self, platform: Platform, token: str, events: list[dict[str, Any]], bus: InProcessBus
    ) -> None:
        self.platform, self.events, self.bus = platform, events, bus
        self.headers = {"Authorization": f"Bearer {token}"}
        s = platform.settings
        self.ocpp = f"ws://{s.host}:{s.ocpp_port}{s.ocpp_path}"

    def url(self, path: str) -> str:
        return self.platform.base_url + path


async def start_csms(
    tmp_path, policy: str = "reject", env: dict[str, str] | None = None
) -> tuple[Platform, Csms]:
    issuer = TokenIssuer()
    env = {"CHARGEPARK_DATA_DIR": str(tmp_path), "CHARGEPARK_OCPP_UNKNOWN": policy, **(env or {})}
    settings = load_settings(
        env, {"http_port": free_port(), "ocpp_port": free_port()}, services=("csms",)
    )
    bus = InProcessBus()
    events: list[dict[str, Any]] = []

    async def record(event: dict[str, Any], attempt: int) -> None:
        events.append(event)

    await bus.subscribe(
        "test", ["ChargerStatusChanged", "ChargingSessionStarted", "ChargingSessionClosed"], record
    )
    platform = Platform(
        settings, ("csms",), bus=bus, verifier=TokenVerifier(StaticJwks(issuer.jwks))
    )
    await templates.seed(settings)
    await platform.start()
    return platform, Csms(platform, issuer.issue("charging:read charging:write"), events, bus)


class Charger:
    """An OCPP client connection, with its listener running."""

    def __init__(self, client: Any, ws: Any) -> None:
        self.client, self.ws = client, ws
        self.listener = asyncio.create_task(client.start())

    async def call(self, request: Any) -> Any:
        return await self.client.call(request, suppress=False)

    async def close(self) -> None:
        self.listener.cancel()
        await self.ws.close()


async def connect(
    csms: Csms, cp_id: str, version: str = "1.6", headers: dict[str, str] | None = None
) -> Charger:
    ws = await websockets.connect(
        f"{csms.ocpp}/{cp_id}", subprotocols=[f"ocpp{version}"], additional_headers=headers or {}
    )
    client_cls = Client16 if version == "1.6" else Client201
    return Charger(client_cls(cp_id, ws), ws)


async def register(http, csms: Csms, **body: Any) -> aiohttp.ClientResponse:
    return await http.post(csms.url("/chargers"), json=body, headers=csms.headers)


async def charger_state(http, csms: Csms, cp_id: str) -> dict[str, Any]:
    async with http.get(csms.url(f"/chargers/{cp_id}"), headers=csms.headers) as r:
        assert r.status == 200
        return await r.json()


def boot16(vendor: str = "ACME", model: str = "AC-22") -> Any:
    return call16.BootNotification(
        charge_point_vendor=vendor,
        charge_point_model=model,
        charge_point_serial_number="SN-1",
        firmware_version="1.2.3",
    )


async def closed_events(csms, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(5):
        while True:
            closed = [e for e in csms.events if e["event"] == "ChargingSessionClosed"]
            if len(closed) >= count:
                await asyncio.sleep(0.1)  # a duplicate, if any, would land now
                return [e for e in csms.events if e["event"] == "ChargingSessionClosed"]
            await asyncio.sleep(0.02)


async def session_of(http, csms: Csms, charger_id: str, **filters: str) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in {"charger_id": charger_id, **filters}.items())
    async with http.get(csms.url(f"/sessions?{query}"), headers=csms.headers) as r:
        page = await r.json()
    assert page["total"] == 1, page
    return page["items"][0]
