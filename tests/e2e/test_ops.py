"""ops through the embedded platform: a simulated charger over OCPP-J reports Faulted for longer
than a rule's window -> one incident and one webhook call; it recovers -> resolved, one more
call. The same for a charger whose connection closes (offline) and comes back. And only the
exact /ops/metrics is public over the mounted apps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import websockets
from aiohttp import web
from ocpp.v16 import ChargePoint
from ocpp.v16 import call as call16

from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.events.inprocess import InProcessBus
from chargepark.platform.config import load_settings
from chargepark.platform.runtime import Platform
from tests.support.chargers import Charger, boot16
from tests.support.procs import free_port
from tests.support.tokens import TokenIssuer


class Hook:
    """The alert webhook's receiver."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calls: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def receive(request: web.Request) -> web.Response:
            self.calls.append(json.loads(await request.read()))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/alerts", receive)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(10):
            while len(self.calls) < count:  # noqa: ASYNC110 - the alert job runs on its own
                await asyncio.sleep(0.05)
        return self.calls


class Site:
    def __init__(self, platform: Platform, issuer: TokenIssuer, hook: Hook) -> None:
        self.platform, self.hook = platform, hook
        token = issuer.issue("charging:read charging:write ops:read ops:write")
        self.headers = {"Authorization": f"Bearer {token}"}
        s = platform.settings
        self.ocpp = f"ws://{s.host}:{s.ocpp_port}{s.ocpp_path}"

    def url(self, path: str) -> str:
        return self.platform.base_url + path


@pytest.fixture
async def site(tmp_path) -> AsyncIterator[Site]:
    hook = Hook()
    await hook.start()
    env = {
        "CHARGEPARK_DATA_DIR": str(tmp_path),
        "CHARGEPARK_OPS_ALERT_INTERVAL": "0.2",
        "CHARGEPARK_OPS_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{hook.port}/alerts",
    }
    settings = load_settings(
        env, {"http_port": free_port(), "ocpp_port": free_port()}, services=("csms", "ops")
    )
    issuer = TokenIssuer()
    platform = Platform(
        settings,
        ("csms", "ops"),
        bus=InProcessBus(),
        verifier=TokenVerifier(StaticJwks(issuer.jwks)),
    )
    await platform.start()
    try:
        yield Site(platform, issuer, hook)
    finally:
        await platform.stop()
        assert hook.runner is not None
        await hook.runner.cleanup()


async def connect(site: Site, cp_id: str) -> Charger:
    ws = await websockets.connect(f"{site.ocpp}/{cp_id}", subprotocols=["ocpp1.6"])
    return Charger(ChargePoint(cp_id, ws), ws)


async def get(http: aiohttp.ClientSession, site: Site, path: str, **params: str) -> Any:
    async with http.get(site.url(path), headers=site.headers, params=params) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_a_charger_faulted_past_the_window_raises_one_alert_and_its_recovery_resolves_it(
    site,
):
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            site.url("/charging/chargers"), json={"id": "CP-F"}, headers=site.headers
        )
        assert r.status == 201
        rule = {"kind": "charger_faulted", "window_sec": 1, "severity": "critical"}
        r = await http.post(site.url("/ops/alerts/rules"), json=rule, headers=site.headers)
        assert r.status == 201

        charger = await connect(site, "CP-F")
        try:
            await charger.call(boot16())
            await charger.call(
                call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
            )
            await charger.call(
                call16.StatusNotification(
                    connector_id=1, error_code="GroundFailure", status="Faulted"
                )
            )
            [raised] = await site.hook.wait_for(1)
            assert raised["event"] == "AlertRaised" and raised["subject"] == "CP-F"
            assert "GroundFailure" in raised["message"]
            await asyncio.sleep(1.0)  # five more runs of the alert job while it stays faulted
            assert len(site.hook.calls) == 1
            opened = await get(http, site, "/ops/incidents", state="open")
            assert [i["id"] for i in opened["items"]] == [raised["incident_id"]]

            await charger.call(
                call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
            )
            _, resolved = await site.hook.wait_for(2)
            assert resolved["event"] == "AlertResolved"
            assert resolved["incident_id"] == raised["incident_id"]
            await asyncio.sleep(0.5)
            assert len(site.hook.calls) == 2
            assert (await get(http, site, "/ops/incidents", state="open"))["items"] == []
            [done] = (await get(http, site, "/ops/incidents", state="resolved"))["items"]
            assert done["cleared_at"] is not None

            metrics = await get(http, site, "/ops/metrics/chargers/CP-F")
            assert metrics["status"] == "Available" and metrics["fault_count"] == 1
            assert metrics["faults"][0]["error_code"] == "GroundFailure"
        finally:
            await charger.close()


async def test_a_charger_gone_past_the_window_raises_one_alert_and_its_return_resolves_it(site):
    """No heartbeat, no message: csms reports the closed socket (EVSE 0 Offline) itself."""
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            site.url("/charging/chargers"), json={"id": "CP-G"}, headers=site.headers
        )
        assert r.status == 201
        rule = {"kind": "charger_offline", "window_sec": 1, "severity": "warning"}
        r = await http.post(site.url("/ops/alerts/rules"), json=rule, headers=site.headers)
        assert r.status == 201

        charger = await connect(site, "CP-G")
        await charger.call(boot16())
        await charger.close()  # gone
        [raised] = await site.hook.wait_for(1)
        assert raised["event"] == "AlertRaised" and raised["subject"] == "CP-G"
        await asyncio.sleep(1.0)
        assert len(site.hook.calls) == 1

        charger = await connect(site, "CP-G")  # back
        try:
            _, resolved = await site.hook.wait_for(2)
            assert resolved["event"] == "AlertResolved"
            assert resolved["incident_id"] == raised["incident_id"]
            assert (await get(http, site, "/ops/incidents", state="open"))["items"] == []
        finally:
            await charger.close()


async def test_only_the_exact_metrics_path_is_public_on_the_mounted_app(site):
    async with aiohttp.ClientSession() as http:
        async with http.get(site.url("/ops/metrics")) as r:
            assert r.status == 200
            assert "chargepark_chargers" in await r.text()
        async with http.get(site.url("/charging/metrics")) as r:
            assert r.status == 200
            assert "chargepark_sessions_active" in await r.text()  # one registry per process
        for path in ("/ops/metrics/summary", "/ops/metrics/occupancy", "/ops/metrics/chargers/X"):
            async with http.get(site.url(path)) as r:
                assert r.status == 401, path
        summary = await get(http, site, "/ops/metrics/summary")
        assert summary["chargers"]["total"] == 0
