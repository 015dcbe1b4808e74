"""The parking service through the embedded platform, as its end-to-end tests drive it: a lot,
tokens for an operator, a reader and a customer, parking's API under /parking, and the events it
publishes recorded (csms's events delivered to its consumer)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from chargepark.events.envelope import envelope
from chargepark.events.inprocess import InProcessBus
from chargepark.events.registry import validate_event
from chargepark.platform.runtime import Platform
from tests.support.tokens import TokenIssuer

LOT = {
    "id": "A1",
    "name": "Airport long stay",
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
                {"slot_ui": 3, "fits": "MOTORCYCLE"},
            ],
        },
        {"level": "P1", "slots": [{"slot_ui": 10, "fits": "CAR"}, {"slot_ui": 11, "fits": "VAN"}]},
    ],
}


class Parking:
    def __init__(self, platform: Platform, issuer: TokenIssuer, bus: InProcessBus) -> None:
        self.platform, self.bus = platform, bus
        self.events: list[dict[str, Any]] = []
        self.operator = {"Authorization": f"Bearer {issuer.issue('parking:read parking:write')}"}
        self.reader = {"Authorization": f"Bearer {issuer.issue('parking:read')}"}
        charging = issuer.issue("charging:read charging:write")
        self.charging = {"Authorization": f"Bearer {charging}"}  # csms's sites, in the same run
        token = issuer.issue("parking:read", sub="c-1", role="customer")
        self.customer = {"Authorization": f"Bearer {token}"}

    def url(self, path: str) -> str:
        return f"{self.platform.base_url}/parking{path}"

    async def events_named(self, name: str, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(5):
            while True:
                found = [e for e in self.events if e["event"] == name]
                if len(found) >= count:
                    return found
                await asyncio.sleep(0.02)

    async def csms_says(self, name: str, **fields: Any) -> None:
        """An event as csms would publish it, delivered to parking's consumer."""
        event = envelope(name, fields)
        validate_event(event)
        await self.bus.publish(name, event["event_id"], json.dumps(event).encode())


async def call(http, p: Parking, method: str, path: str, body: Any = None, **kw: Any) -> Any:
    headers = kw.pop("headers", p.operator)
    async with http.request(method, p.url(path), json=body, headers=headers, **kw) as r:
        text = await r.text()
        return r.status, r.content_type, (json.loads(text) if text else None)


async def a_lot(http, p: Parking, lot: dict[str, Any] = LOT) -> None:
    status, _, body = await call(http, p, "POST", "/lots", lot)
    assert status == 201, body
