"""Billing's use cases on the in-memory fakes, fed events through the consumer's handlers."""

from __future__ import annotations

from typing import Any

import pytest

from billing.consumers import HANDLERS
from billing.services import BillingService
from chargepark.config import BillingSettings
from tests.support.billing import ScriptedProvider
from tests.support.fakes.billing import State, fake_units


class FakeBilling:
    def __init__(self, clock: Any, provider: Any, **settings: Any) -> None:
        self.clock, self.provider = clock, provider
        self.state, self.units = fake_units(clock)
        self.service = BillingService(
            self.units,
            clock,
            provider,
            settings=BillingSettings(
                **{"visit_timeout_sec": 3600, "settle_sec": 60, "job_interval_sec": 1, **settings}
            ),
        )

    async def deliver(self, *events: dict[str, Any]) -> None:
        for e in events:
            async with self.units() as uow:
                await HANDLERS[e["event"]](e, uow)
                await uow.commit()

    def outbox(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.state.outbox if name is None or e["event"] == name]


@pytest.fixture
async def billing(clock: Any) -> FakeBilling:
    billing = FakeBilling(clock, ScriptedProvider())
    await billing.service.ensure_default_tariff()
    return billing


__all__ = ["FakeBilling", "State"]
