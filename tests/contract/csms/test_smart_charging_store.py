"""The smart charging stores (SmartChargingStore, OperatorProfileStore): the same cases on the
in-memory fakes and on SQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from csms.adapters.smart_charging_store import SqlOperatorProfiles, SqlSmartCharging
from csms.domain.chargers import UnknownCharger
from csms.domain.charging_profiles import (
    ChargingProfile,
    Delivery,
    EvChargingNeeds,
    ExternalLimit,
    ProfileKind,
    ProfilePurpose,
    RateUnit,
    SchedulePeriod,
    SmartChargingLimits,
)
from tests.support.fakes.csms.smart_charging import FakeOperatorProfiles, FakeSmartCharging

PROFILE = ChargingProfile(
    profile_id=0,
    stack_level=1,
    purpose=ProfilePurpose.TX_DEFAULT,
    kind=ProfileKind.RELATIVE,
    unit=RateUnit.AMPS,
    periods=(SchedulePeriod(0, 16.0, 3), SchedulePeriod(600, 6.5)),
    evse_id=1,
)


@pytest.fixture
async def stores(backend):
    await backend.register("CP-1")
    if backend.fake:
        return FakeSmartCharging(), FakeOperatorProfiles(c for c, _ in backend.registered)
    return SqlSmartCharging(backend.db), SqlOperatorProfiles(backend.db)


async def test_operator_profiles_are_numbered_settled_listed_and_removed(stores, clock):
    _, profiles = stores
    first = await profiles.add("CP-1", PROFILE, clock.now())
    assert first.profile.profile_id == 1_000_000 and first.delivery is Delivery.PENDING
    second = await profiles.add("CP-1", PROFILE, clock.now())
    assert second.profile.profile_id == 1_000_001
    chosen = await profiles.add("CP-1", replace(PROFILE, profile_id=7), clock.now())
    clock.advance(seconds=3)
    settled = await profiles.settle(
        "CP-1", 7, Delivery.REJECTED, "the charger said no", clock.now()
    )
    assert settled is not None and (settled.delivery, settled.detail) == (
        Delivery.REJECTED,
        "the charger said no",
    )
    assert settled.updated_at == clock.now() and settled.profile == chosen.profile
    listed = await profiles.of_charger("CP-1")
    assert [s.profile.profile_id for s in listed] == [7, 1_000_000, 1_000_001]
    assert listed[1].profile == replace(PROFILE, profile_id=1_000_000)
    assert await profiles.remove("CP-1", 7) and not await profiles.remove("CP-1", 7)
    assert await profiles.get("CP-1", 7) is None
    assert await profiles.settle("CP-1", 7, Delivery.SENT, None, clock.now()) is None
    with pytest.raises(UnknownCharger):
        await profiles.add("NOPE", PROFILE, clock.now())
    with pytest.raises(UnknownCharger):
        await profiles.of_charger("NOPE")


async def test_limits_needs_external_limits_and_installed_profiles(stores, clock):
    store, _ = stores
    assert await store.limits("CP-1") is None
    limits = SmartChargingLimits(True, 3, (RateUnit.AMPS, RateUnit.WATTS), 8, None)
    await store.save_limits("CP-1", limits, clock.now())
    await store.save_limits("CP-1", replace(limits, max_profiles=4), clock.now())
    assert await store.limits("CP-1") == replace(limits, max_profiles=4)

    needs = EvChargingNeeds(
        1, "AC_three_phase", clock.now() + timedelta(hours=3), 30e3, 32, 6, clock.now()
    )
    await store.save_ev_schedule("CP-1", 2, {"id": 1}, clock.now())
    assert await store.ev_needs("CP-1", 2) is None  # a schedule alone is no needs
    await store.save_ev_needs("CP-1", needs, {"requestedEnergyTransfer": "AC_three_phase"})
    await store.save_ev_schedule("CP-1", 1, {"id": 1}, clock.now())
    assert await store.ev_needs("CP-1", 1) == needs

    so = ExternalLimit(1, "SO", 20.0, RateUnit.AMPS, True, clock.now())
    ems = ExternalLimit(0, "EMS", None, None, None, clock.now())
    await store.save_external_limit("CP-1", so, [{"id": 1}])
    await store.save_external_limit("CP-1", replace(so, limit=16.0), None)
    await store.save_external_limit("CP-1", ems, None)
    assert await store.external_limits("CP-1") == [ems, replace(so, limit=16.0)]
    await store.clear_external_limit("CP-1", "SO", 2)
    assert len(await store.external_limits("CP-1")) == 2
    await store.clear_external_limit("CP-1", "SO", None)
    assert await store.external_limits("CP-1") == [ems]

    one, two = replace(PROFILE, profile_id=1), replace(PROFILE, profile_id=2, evse_id=2)
    await store.save_installed("CP-1", 5, "CSO", [one], clock.now())
    await store.save_installed("CP-1", 5, "CSO", [two], clock.now())  # tbc: adds up
    assert await store.installed("CP-1") == [one, two]
    await store.save_installed("CP-1", 6, "CSO", [two], clock.now())  # a new request replaces
    assert await store.installed("CP-1") == [two]
    await store.forget_installed("CP-1")
    assert await store.installed("CP-1") == []
