"""A reservation's expiry as the CSMS sends it: read as UTC; anything that is not a time with a
zone is answered Rejected (the charger holds nothing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from simulators.chargepoint import ChargePointSimulator, ChargerConfig
from simulators.clock import SimClock, isoformat

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def charger():
    cp = ChargePointSimulator(
        ChargerConfig("CP-R", "ws://127.0.0.1:1/ocpp"), clock=SimClock(1.0, start=NOW)
    )
    yield cp
    await cp.stop()


async def test_a_reservation_holds_the_evse_until_its_expiry_read_as_utc(charger):
    expiry = (charger.clock.now() + timedelta(hours=1)).astimezone(UTC)
    local = expiry.astimezone().isoformat()  # the same instant with another offset
    assert charger.reserve(1, 7, "CARD-1", local) == "Accepted"
    reservation = charger.evses[1].reservation
    assert reservation is not None and reservation.expires_at == expiry
    assert reservation.expires_at.tzinfo is UTC
    assert charger.reserve(1, 8, "CARD-2", isoformat(expiry)) == "Occupied"


@pytest.mark.parametrize("expiry", ["tomorrow", "", "2026-13-01T00:00:00Z", "2026-03-01T13:00"])
async def test_an_expiry_that_is_not_a_time_with_a_zone_is_rejected(charger, expiry):
    assert charger.reserve(1, 7, "CARD-1", expiry) == "Rejected"
    assert charger.evses[1].reservation is None
