"""The embedded platform the simulator tests drive: its OCPP endpoint, the REST client of the
bootstrap client `CLIENT`, and a charge point simulator built for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chargepark.platform.runtime import Platform
from simulators.chargepoint import ChargePointSimulator, ChargerConfig
from simulators.clock import SimClock
from simulators.rest import PlatformClient

CLIENT = ("sim-test", "sim-test-secret-0123456789")


class Site:
    def __init__(self, platform: Platform, client: PlatformClient) -> None:
        self.platform, self.client = platform, client
        s = platform.settings
        self.ocpp = f"ws://{s.host}:{s.ocpp_port}{s.ocpp_path}"

    def charger(self, cp_id: str, version: str, **kw: Any) -> ChargePointSimulator:
        clock = SimClock(1500, start=datetime.now(UTC) - timedelta(hours=6))
        config = ChargerConfig(cp_id, self.ocpp, ocpp=version, meter_interval=60, **kw)
        return ChargePointSimulator(config, clock=clock)

    async def command(self, cp_id: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        _, answer = await self.client.request(
            "POST", f"/charging/chargers/{cp_id}/commands/{action}", body
        )
        return answer
