"""Charging profiles: the rules a profile meets before it is sent, each version's spelling of
the smart charging commands (checked against the version's schema), the limits a charger
reports, and the operator profile use case against in-memory stores and gateway."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from chargepark.errors import Invalid, NotFound
from csms.domain.charging_profiles import (
    UNKNOWN_LIMITS,
    ChargingProfile,
    Delivery,
    ProfileKind,
    ProfilePurpose,
    ProfileRefused,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    SmartChargingLimits,
    check_against,
    check_profile,
    delivery_of,
    profile_as_dict,
    profile_from_dict,
)
from csms.ocpp import capabilities
from csms.ocpp.gateway import v16, v201
from csms.ocpp.gateway.catalog import build_request, wire_payload
from csms.ports.gateway import CommandOutcome, CommandStatus, StartCharging
from csms.services.charging_profiles import ChargingProfiles, UnknownProfile
from tests.conftest import T0
from tests.support.fakes.csms.gateway import FakeGateway
from tests.support.fakes.csms.smart_charging import FakeOperatorProfiles, FakeSmartCharging

MAX = ChargingProfile(
    profile_id=5,
    stack_level=1,
    purpose=ProfilePurpose.STATION_MAX,
    kind=ProfileKind.RECURRING,
    recurrency=Recurrency.DAILY,
    unit=RateUnit.AMPS,
    periods=(SchedulePeriod(0, 16.05, 3), SchedulePeriod(3600, 0.3)),
    start_schedule=T0,
    valid_to=T0 + timedelta(days=30),
    min_rate=6.0,
)
TX = ChargingProfile(
    profile_id=9,
    stack_level=0,
    purpose=ProfilePurpose.TX,
    kind=ProfileKind.RELATIVE,
    unit=RateUnit.WATTS,
    periods=(SchedulePeriod(0, 7360.0, 1, 2),),
    evse_id=2,
    transaction_id="42",
    duration=3600,
)
LIMITS = SmartChargingLimits(True, 2, (RateUnit.AMPS,), 2, 3)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"profile_id": 0}, "profile_id"),
        ({"stack_level": -1}, "stack_level"),
        ({"evse_id": 1}, "station maximum"),
        ({"transaction_id": "7"}, "only a TxProfile"),
        ({"recurrency": None}, "recurrency"),
        ({"kind": ProfileKind.ABSOLUTE}, "recurrency"),
        ({"kind": ProfileKind.RELATIVE, "recurrency": None}, "no start_schedule"),
        ({"valid_from": T0 + timedelta(days=31)}, "valid_from"),
        ({"duration": 0}, "duration"),
        ({"periods": ()}, "periods"),
        ({"periods": (SchedulePeriod(10, 6.0),)}, "starts at 0"),
        ({"periods": (SchedulePeriod(0, 6.0), SchedulePeriod(0, 8.0))}, "increasing"),
        ({"periods": (SchedulePeriod(0, -1.0),)}, "limit"),
        ({"periods": (SchedulePeriod(0, 6.0, 4),)}, "number_phases"),
        ({"periods": (SchedulePeriod(0, 6.0, 3, 1),)}, "phase_to_use"),
    ],
)
def test_a_malformed_profile_is_refused_before_anything_is_sent(change, says):
    check_profile(MAX)
    with pytest.raises(ProfileRefused) as refused:
        check_profile(replace(MAX, **change))
    assert says in refused.value.detail and isinstance(refused.value, Invalid)


def test_a_profile_beyond_the_chargers_limits_is_refused():
    check_against(replace(MAX, stack_level=2), LIMITS)
    check_against(replace(MAX, stack_level=9, unit=RateUnit.WATTS), UNKNOWN_LIMITS)
    for profile, says in (
        (replace(MAX, stack_level=3), "above this charger's maximum (2)"),
        (replace(MAX, unit=RateUnit.WATTS), "unit W"),
        (replace(MAX, periods=(*MAX.periods, SchedulePeriod(7200, 8.0))), "at most 2"),
    ):
        with pytest.raises(ProfileRefused) as refused:
            check_against(profile, LIMITS)
        assert says in refused.value.detail
    with pytest.raises(ProfileRefused, match="does not support"):
        check_against(MAX, replace(LIMITS, supported=False))


def test_a_profile_reads_back_from_its_json_and_deliveries_follow_the_answer():
    for profile in (MAX, TX):
        assert profile_from_dict(profile_as_dict(profile)) == profile
    with pytest.raises(ProfileRefused):
        profile_from_dict({**profile_as_dict(MAX), "valid_to": "tomorrow"})
    assert delivery_of("answered", "Accepted") is Delivery.ACCEPTED
    assert delivery_of("answered", "Rejected") is Delivery.REJECTED
    assert delivery_of("offline", None) is Delivery.PENDING
    assert delivery_of("timeout", None) is Delivery.SENT


def test_the_16_spelling_of_every_smart_charging_command():
    action, payload = v16.set_charging_profile(MAX)
    assert (action, payload["connectorId"]) == ("SetChargingProfile", 0)
    profile = payload["csChargingProfiles"]
    assert profile["chargingProfilePurpose"] == "ChargePointMaxProfile"
    assert (profile["chargingProfileKind"], profile["recurrencyKind"]) == ("Recurring", "Daily")
    assert profile["validTo"] == "2026-12-27T09:00:00Z"
    schedule = profile["chargingSchedule"]
    # multipleOf 0.1, rounded down: a limit never grows on the way out
    assert [p["limit"] for p in schedule["chargingSchedulePeriod"]] == [16.0, 0.3]
    assert (
        schedule["startSchedule"] == "2026-11-27T09:00:00Z" and schedule["minChargingRate"] == 6.0
    )
    _, tx = v16.set_charging_profile(TX)
    assert tx["connectorId"] == 2 and tx["csChargingProfiles"]["transactionId"] == 42
    assert (
        "phaseToUse"
        not in tx["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"][0]
    )
    requests = [
        (action, payload),
        ("SetChargingProfile", tx),
        v16.clear_charging_profile(profile_id=5),
        v16.clear_charging_profile(evse_id=1, purpose=ProfilePurpose.STATION_MAX, stack_level=1),
        v16.get_composite_schedule(1, 600, RateUnit.WATTS),
        v16.start_charging(StartCharging("TAG", 3, 1, charging_profile=TX)),
    ]
    for action, payload in requests:
        assert wire_payload(build_request("1.6", action, payload)) == payload
    assert requests[3][1] == {
        "connectorId": 1,
        "chargingProfilePurpose": "ChargePointMaxProfile",
        "stackLevel": 1,
    }
    start = requests[5][1]["chargingProfile"]
    assert start["chargingProfilePurpose"] == "TxProfile" and "transactionId" not in start


def test_the_201_spelling_of_every_smart_charging_command():
    action, payload = v201.set_charging_profile(MAX)
    assert payload["evseId"] == 0
    profile = payload["chargingProfile"]
    assert (profile["id"], profile["chargingProfilePurpose"]) == (5, "ChargingStationMaxProfile")
    [schedule] = profile["chargingSchedule"]
    assert schedule["id"] == 5 and schedule["chargingSchedulePeriod"][0]["limit"] == 16.05
    _, tx = v201.set_charging_profile(TX)
    assert tx["chargingProfile"]["transactionId"] == "42"
    assert tx["chargingProfile"]["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 7360.0, "numberPhases": 1, "phaseToUse": 2}
    ]
    absolute = replace(MAX, kind=ProfileKind.ABSOLUTE, recurrency=None, start_schedule=None)
    _, now = v201.set_charging_profile(absolute)
    assert now["chargingProfile"]["chargingSchedule"][0]["startSchedule"]  # K01.FR.40
    requests = [
        (action, payload),
        ("SetChargingProfile", tx),
        v201.clear_charging_profile(profile_id=5),
        v201.clear_charging_profile(evse_id=1, purpose=ProfilePurpose.TX, stack_level=0),
        v201.clear_charging_profile(),
        v201.get_composite_schedule(1, 600, None),
        v201.get_charging_profiles(7, profile_ids=(5, 9)),
        v201.start_charging(StartCharging("TAG", 3, 1, charging_profile=TX)),
    ]
    for action, payload in requests:
        assert wire_payload(build_request("2.0.1", action, payload)) == payload
    assert requests[2][1] == {"chargingProfileId": 5}
    assert requests[3][1] == {
        "chargingProfileCriteria": {
            "evseId": 1,
            "chargingProfilePurpose": "TxProfile",
            "stackLevel": 0,
        }
    }
    assert requests[6][1] == {"requestId": 7, "chargingProfile": {"chargingProfileId": [5, 9]}}
    assert requests[7][1]["chargingProfile"]["chargingProfilePurpose"] == "TxProfile"


def test_composite_schedules_and_reported_profiles_read_version_free():
    answer16 = {
        "status": "Accepted",
        "connectorId": 1,
        "scheduleStart": "2026-11-27T09:00:00Z",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0, "numberPhases": 3}],
        },
    }
    read = v16.composite_schedule(answer16, 1)
    assert read is not None and (read.evse_id, read.start, read.unit) == (1, T0, RateUnit.AMPS)
    assert read.periods == (SchedulePeriod(0, 16.0, 3),)
    assert v16.composite_schedule({"status": "Rejected"}, 1) is None
    answer201 = {
        "status": "Accepted",
        "schedule": {
            "evseId": 2,
            "duration": 60,
            "scheduleStart": "2026-11-27T09:00:00Z",
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7360}],
        },
    }
    read = v201.composite_schedule(answer201, 0)
    assert read is not None and (read.evse_id, read.unit, read.periods[0].limit) == (
        2,
        RateUnit.WATTS,
        7360.0,
    )
    reported = v201.profile_of(v201.set_charging_profile(TX)[1]["chargingProfile"], 2)
    assert reported == TX


def test_the_limits_a_charger_reports_in_either_version():
    action, payload = capabilities.request("1.6")
    assert action == "GetConfiguration" and wire_payload(build_request("1.6", action, payload))
    answer = {
        "configurationKey": [
            {"key": "ChargeProfileMaxStackLevel", "readonly": True, "value": "8"},
            {
                "key": "ChargingScheduleAllowedChargingRateUnit",
                "readonly": True,
                "value": "Current, Power",
            },
            {"key": "ChargingScheduleMaxPeriods", "readonly": True, "value": "many"},
            {"key": "SupportedFeatureProfiles", "readonly": True, "value": "Core,Reservation"},
        ],
        "unknownKey": ["MaxChargingProfilesInstalled"],
    }
    assert capabilities.limits_of("1.6", answer) == SmartChargingLimits(
        False, 8, (RateUnit.AMPS, RateUnit.WATTS), None, None
    )
    action, payload = capabilities.request("2.0.1")
    assert action == "GetVariables" and build_request("2.0.1", action, payload)
    ctrl = {"name": "SmartChargingCtrlr"}
    answer = {
        "getVariableResult": [
            {
                "attributeStatus": "Accepted",
                "component": ctrl,
                "variable": {"name": "Enabled"},
                "attributeValue": "true",
            },
            {
                "attributeStatus": "Accepted",
                "component": ctrl,
                "variable": {"name": "RateUnit"},
                "attributeValue": "W",
            },
            {
                "attributeStatus": "Accepted",
                "component": ctrl,
                "variable": {"name": "ProfileStackLevel"},
                "attributeValue": "4",
            },
            {
                "attributeStatus": "Rejected",
                "component": ctrl,
                "variable": {"name": "PeriodsPerSchedule"},
            },
            {
                "attributeStatus": "Accepted",
                "component": ctrl,
                "variable": {"name": "Entries", "instance": "ChargingProfiles"},
                "attributeValue": "20",
            },
        ]
    }
    read = capabilities.limits_of("2.0.1", answer)
    assert read == SmartChargingLimits(True, 4, (RateUnit.WATTS,), None, 20)
    report = [
        {
            "component": ctrl,
            "variable": {"name": "Available"},
            "variableAttribute": [{"value": "false"}],
        },
        {
            "component": {"name": "Other"},
            "variable": {"name": "RateUnit"},
            "variableAttribute": [{"value": "A"}],
        },
    ]
    assert capabilities.merge(read, capabilities.from_report(report)) == replace(
        read, supported=False
    )


@pytest.fixture
def service(clock):
    store = FakeOperatorProfiles(["CP-1", "CP-OFF"])
    reads = FakeSmartCharging()
    reads.limit_rows["CP-1"] = LIMITS
    gateway = FakeGateway()

    async def version(charger_id: str) -> str | None:
        return "2.0.1" if charger_id == "CP-1" else None

    return ChargingProfiles(store, reads, gateway, clock, live_version=version), store, gateway


async def test_a_profile_is_stored_then_sent_and_its_delivery_follows_the_answer(service, clock):
    profiles, _, gateway = service
    stored = await profiles.create("CP-1", replace(MAX, profile_id=0), requested_by="ops")
    assert stored.profile.profile_id == 1_000_000 and stored.delivery is Delivery.ACCEPTED
    assert gateway.sent == [("CP-1", "set_profile", "2.0.1", stored.profile)]
    gateway.outcome = CommandOutcome(
        CommandStatus.ANSWERED,
        "SetChargingProfile",
        response={"status": "Rejected", "statusInfo": {"reasonCode": "TooMany"}},
    )
    rejected = await profiles.create("CP-1", replace(MAX, profile_id=7))
    assert rejected.delivery is Delivery.REJECTED and "TooMany" in (rejected.detail or "")
    gateway.outcome = None
    with pytest.raises(ProfileRefused, match="at most 3"):
        await profiles.create("CP-1", replace(MAX, profile_id=8))
        await profiles.create("CP-1", replace(MAX, profile_id=9))
    offline = await profiles.create("CP-OFF", replace(MAX, stack_level=9))
    assert offline.delivery is Delivery.PENDING and len(gateway.sent) == 3
    with pytest.raises(NotFound):
        await profiles.create("CP-NONE", MAX)


async def test_resend_skips_what_the_charger_holds_and_what_changed_since(service, clock):
    profiles, store, gateway = service
    for profile_id in (1, 2):
        await store.add("CP-1", replace(MAX, profile_id=profile_id), clock.now())
    clock.advance(seconds=5)
    assert await profiles.resend("CP-1", "2.0.1", held={1}) == 1
    assert [s[3].profile_id for s in gateway.sent] == [2]
    # Stored or settled after the charger came back: its creation sends it itself.
    assert await profiles.resend("CP-1", "2.0.1", since=clock.now()) == 1
    assert [s[3].profile_id for s in gateway.sent] == [2, 1]
    clock.advance(seconds=5)
    gateway.outcome = CommandOutcome(CommandStatus.OFFLINE, "SetChargingProfile")
    assert await profiles.resend("CP-1", "2.0.1") == 1  # it went away: the rest waits
    assert (await store.get("CP-1", 1)).delivery is Delivery.PENDING  # type: ignore[union-attr]
    await store.settle("CP-1", 2, Delivery.REJECTED, "no", clock.now())
    gateway.outcome = None
    assert await profiles.resend("CP-1", "2.0.1") == 1  # a rejected one is not retried


async def test_delete_clears_a_connected_chargers_profile_then_forgets_it(service, clock):
    profiles, store, gateway = service
    await store.add("CP-1", replace(MAX, profile_id=1), clock.now())
    await store.add("CP-OFF", replace(MAX, profile_id=1), clock.now())
    outcome = await profiles.delete("CP-1", 1)
    assert outcome is not None and outcome.accepted
    criteria = {"profile_id": 1, "evse_id": None, "purpose": None, "stack_level": None}
    assert gateway.sent == [("CP-1", "clear_profile", "2.0.1", criteria)]
    assert await profiles.delete("CP-OFF", 1) is None and len(gateway.sent) == 1
    assert await profiles.of_charger("CP-1") == [] == await profiles.of_charger("CP-OFF")
    with pytest.raises(UnknownProfile):
        await profiles.delete("CP-1", 1)
    with pytest.raises(NotFound):
        await profiles.delete("CP-NONE", 1)


def test_a_reported_external_limit_is_the_one_in_force_now():
    from csms.ocpp.smart_charging import _limit_now

    periods = [{"startPeriod": 600, "limit": 10.0}, {"startPeriod": 0, "limit": 20.0}]
    assert _limit_now({"chargingSchedulePeriod": periods}, T0) == 20.0
    started = {"chargingSchedulePeriod": periods, "startSchedule": "2026-11-27T08:50:00Z"}
    assert _limit_now(started, T0) == 10.0  # ten minutes in
    assert _limit_now(started, T0 - timedelta(minutes=5)) == 20.0
    assert _limit_now(None, T0) is None


async def test_the_gateway_sends_each_version_its_spelling_and_reads_the_schedule_back():
    from csms.ocpp.gateway import OcppGateway
    from tests.support.fakes.csms.gateway import RecordingSender

    sender = RecordingSender()
    gateway = OcppGateway(sender)
    assert (await gateway.set_charging_profile("CP-1", "1.6", MAX)).accepted
    await gateway.clear_charging_profile("CS-1", "2.0.1", evse_id=1)
    sender.outcome = CommandOutcome(
        CommandStatus.ANSWERED,
        "GetCompositeSchedule",
        response={
            "status": "Accepted",
            "schedule": {
                "evseId": 1,
                "duration": 60,
                "scheduleStart": "2026-11-27T09:00:00Z",
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 6}],
            },
        },
    )
    outcome = await gateway.get_composite_schedule("CS-1", "2.0.1", evse_id=1, duration=60)
    assert [(c, a) for c, a, _ in sender.sent] == [
        ("CP-1", "SetChargingProfile"),
        ("CS-1", "ClearChargingProfile"),
        ("CS-1", "GetCompositeSchedule"),
    ]
    assert sender.sent[1][2] == {"chargingProfileCriteria": {"evseId": 1}}
    schedule = gateway.composite_schedule("2.0.1", outcome, 1)
    assert schedule is not None and schedule.periods == (SchedulePeriod(0, 6.0),)
    silent = CommandOutcome(CommandStatus.TIMEOUT, "GetCompositeSchedule")
    assert gateway.composite_schedule("1.6", silent, 1) is None
