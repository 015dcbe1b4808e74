"""The whole platform embedded in this process (SQLite, the in-process bus), with a token for
every service's API and the events it publishes recorded: the site of the billing end-to-end
tests, and of those that build on it (Stripe, tracing)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.clock import isoformat_utc
from chargepark.events.envelope import envelope
from chargepark.events.inprocess import InProcessBus
from chargepark.events.registry import validate_event
from chargepark.platform.config import SERVICES, load_settings
from chargepark.platform.runtime import Platform
from tests.support import templates
from tests.support.procs import free_port
from tests.support.tokens import TokenIssuer

LOT = {
    "id": "A1",
    "name": "Mall",
    "levels": [
        {
            "level": "P0",
            "slots": [
                {
                    "slot_ui": 1,
                    "fits": "CAR",
                    "ev_bay": True,
                    "charger_id": "CP-1",
                    "connector_id": 1,
                },
                {"slot_ui": 2, "fits": "CAR"},
            ],
        }
    ],
}
SCOPES = "parking:read parking:write charging:read charging:write billing:read billing:write"


class Site:
    def __init__(self, platform: Platform, issuer: TokenIssuer, bus: InProcessBus) -> None:
        self.platform, self.issuer, self.bus = platform, issuer, bus
        self.events: list[dict[str, Any]] = []
        self.operator = {"Authorization": f"Bearer {issuer.issue(SCOPES)}"}

    def url(self, path: str) -> str:
        return self.platform.base_url + path

    async def events_named(
        self, name: str, count: int = 1, within: float = 10
    ) -> list[dict[str, Any]]:
        async with asyncio.timeout(within):
            while True:
                found = [e for e in self.events if e["event"] == name]
                if len(found) >= count:
                    return found
                await asyncio.sleep(0.05)

    async def accounts_says(self, name: str, **fields: Any) -> None:
        event = envelope(name, {"ts": isoformat_utc(datetime.now(UTC)), **fields})
        validate_event(event)
        await self.bus.publish(name, event["event_id"], json.dumps(event).encode())


@asynccontextmanager
async def running_site(tmp_path: Path, events: Sequence[str]) -> AsyncIterator[Site]:
    """The whole platform in this process (SQLite, the in-process bus, billing's job every
    second), recording the `events` named."""
    issuer = TokenIssuer()
    bus = InProcessBus()
    env = {
        "CHARGEPARK_DATA_DIR": str(tmp_path),
        "CHARGEPARK_OCPP_UNKNOWN": "accept",
        "CHARGEPARK_OCPP_OFFLINE_AUTH": "accept",
        "CHARGEPARK_BILLING_JOB_INTERVAL": "1",
        "CHARGEPARK_BILLING_SETTLE_SEC": "1",
    }
    settings = load_settings(env, {"http_port": free_port(), "ocpp_port": free_port()})
    platform = Platform(
        settings, SERVICES, bus=bus, verifier=TokenVerifier(StaticJwks(issuer.jwks))
    )
    site = Site(platform, issuer, bus)

    async def record(event: dict[str, Any], attempt: int) -> None:
        site.events.append(event)

    await bus.subscribe("test", list(events), record)
    await templates.seed(settings)
    await platform.start()
    try:
        yield site
    finally:
        await platform.stop()


async def call(http, site: Site, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    headers = kw.pop("headers", site.operator)
    async with http.request(method, site.url(path), json=body, headers=headers, **kw) as r:
        text = await r.text()
        return r.status, r.content_type, (json.loads(text) if text else None)


def ts(at: datetime) -> str:
    return isoformat_utc(at)
