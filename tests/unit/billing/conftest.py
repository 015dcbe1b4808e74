"""Billing's use cases on the in-memory fakes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.billing import ScriptedProvider
from tests.support.fakes.billing import FakeBilling


@pytest.fixture
async def billing(clock: Any) -> FakeBilling:
    billing = FakeBilling(clock, ScriptedProvider())
    await billing.service.ensure_default_tariff()
    return billing
