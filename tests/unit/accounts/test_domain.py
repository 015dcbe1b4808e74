"""The accounts rules on their own: no database, time passed in."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.domain import (
    Customer,
    CustomerCreated,
    CustomerDeactivated,
    Fuel,
    IdToken,
    IdTokenChanged,
    IdTokenStatus,
    IdTokenType,
    RegnumTaken,
    UnknownIdToken,
    UnknownVehicle,
    VehicleKind,
    VehicleLinked,
    VehicleUnlinked,
    normalize_email,
    normalize_name,
    normalize_regnum,
)
from chargepark.errors import Conflict, Invalid, NotFound
from chargepark.events.envelope import envelope_of
from chargepark.events.registry import validate_event
from tests.conftest import T0

REGNUM = re.compile(r"[A-Z0-9]{1,16}")


def a_customer(customer_id: str = "c-1", **overrides) -> Customer:
    customer, _ = Customer.register(customer_id, "Ada Lovelace", "ada@example.org", T0)
    for name, value in overrides.items():
        setattr(customer, name, value)
    return customer


def a_token(customer_id: str = "c-1", **overrides) -> IdToken:
    fields = {
        "token": "04A2B3C4D5E6F7",
        "customer_id": customer_id,
        "type": IdTokenType.ISO14443,
        "status": IdTokenStatus.ACCEPTED,
        "expires_at": None,
        "created_at": T0,
        "updated_at": T0,
    }
    return IdToken(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("raw", "regnum"),
    [
        ("ab-123", "AB123"),
        (" AB 123 ", "AB123"),
        ("x", "X"),
        ("abc-def-1234567890", "ABCDEF1234567890"),
    ],
)
def test_a_regnum_is_upper_case_without_spaces_or_dashes(raw, regnum):
    assert normalize_regnum(raw) == regnum


@pytest.mark.parametrize("raw", ["", " - ", "AB_123", "ÅB123", "A" * 17, "AB\n123", "ß"])
def test_a_regnum_outside_the_pattern_is_invalid(raw):
    with pytest.raises(Invalid):
        normalize_regnum(raw)


@given(st.text(max_size=40))
def test_normalizing_a_regnum_is_idempotent_and_always_matches_the_pattern(raw):
    try:
        regnum = normalize_regnum(raw)
    except Invalid:
        return
    assert REGNUM.fullmatch(regnum)
    assert normalize_regnum(regnum) == regnum


@given(st.from_regex(r"[a-zA-Z0-9][a-zA-Z0-9 -]{0,20}", fullmatch=True))
def test_plate_like_text_normalizes_to_its_letters_and_digits(raw):
    letters = "".join(ch for ch in raw.upper() if ch.isalnum())
    if 1 <= len(letters) <= 16:
        assert normalize_regnum(raw) == letters


def test_an_email_is_lower_cased_and_checked():
    assert normalize_email("  Ada.Lovelace+ev@Example.ORG ") == "ada.lovelace+ev@example.org"
    for bad in [
        "ada",
        "ada@",
        "@example.org",
        "ada@example",
        "a b@example.org",
        "ada@ex_ample.org",
    ]:
        with pytest.raises(Invalid):
            normalize_email(bad)
    with pytest.raises(Invalid):
        normalize_email("a" * 250 + "@example.org")


def test_a_name_is_trimmed_and_must_be_printable_text_of_bounded_length():
    assert normalize_name("  Ada  ") == "Ada"
    for bad in ["", "   ", "x" * 201, "Ada\x00", "Ada\ud800"]:
        with pytest.raises(Invalid):
            normalize_name(bad)


def test_registering_a_customer_says_so_with_its_id_only():
    customer, created = Customer.register("c-1", " Ada ", "ADA@example.org", T0)
    assert (customer.name, customer.email, customer.active) == ("Ada", "ada@example.org", True)
    assert created == CustomerCreated(customer_id="c-1", ts=T0)


def test_a_vehicle_links_to_one_customer_at_a_time():
    ada, bob = a_customer("c-1"), a_customer("c-2")
    vehicle, linked = ada.link_vehicle(None, "AB123", VehicleKind.CAR, Fuel.EV, T0)
    assert linked == VehicleLinked(
        customer_id="c-1", regnum="AB123", kind=VehicleKind.CAR, fuel=Fuel.EV, ts=T0
    )
    with pytest.raises(RegnumTaken) as taken:
        bob.link_vehicle(vehicle, "AB123", VehicleKind.CAR, Fuel.EV, T0)
    assert isinstance(taken.value, Conflict)


def test_linking_again_to_the_same_customer_updates_kind_and_fuel_only():
    ada = a_customer()
    vehicle, _ = ada.link_vehicle(None, "AB123", VehicleKind.CAR, Fuel.ICE, T0)
    later = T0 + timedelta(days=1)
    same, event = ada.link_vehicle(vehicle, "AB123", VehicleKind.CAR, Fuel.ICE, later)
    assert same is vehicle and event is None
    same, event = ada.link_vehicle(vehicle, "AB123", VehicleKind.VAN, Fuel.EV, later)
    assert (same.kind, same.fuel, same.linked_at) == (VehicleKind.VAN, Fuel.EV, T0)
    assert event == VehicleLinked(
        customer_id="c-1", regnum="AB123", kind=VehicleKind.VAN, fuel=Fuel.EV, ts=later
    )


def test_only_the_owner_can_unlink_a_vehicle():
    ada, bob = a_customer("c-1"), a_customer("c-2")
    vehicle, _ = ada.link_vehicle(None, "AB123", VehicleKind.CAR, Fuel.EV, T0)
    with pytest.raises(UnknownVehicle):
        bob.unlink_vehicle(vehicle, T0)
    assert ada.unlink_vehicle(vehicle, T0) == VehicleUnlinked("c-1", "AB123", ts=T0)


def test_an_id_token_expires_at_its_expiry_whatever_its_status():
    token = a_token(expires_at=T0 + timedelta(hours=1))
    assert token.effective_status(T0) is IdTokenStatus.ACCEPTED
    assert token.effective_status(T0 + timedelta(hours=1)) is IdTokenStatus.EXPIRED
    blocked = a_token(status=IdTokenStatus.BLOCKED, expires_at=None)
    assert blocked.effective_status(T0 + timedelta(days=999)) is IdTokenStatus.BLOCKED


def test_issuing_an_id_token_says_so_and_checks_the_token():
    ada = a_customer()
    token, event = ada.issue_id_token(
        "EMP-1*A", IdTokenType.EMAID, IdTokenStatus.ACCEPTED, None, T0
    )
    assert (token.token, token.customer_id, token.created_at) == ("EMP-1*A", "c-1", T0)
    assert event == IdTokenChanged(
        customer_id="c-1",
        id_token="EMP-1*A",
        type=IdTokenType.EMAID,
        status=IdTokenStatus.ACCEPTED,
        expires_at=None,
        ts=T0,
    )
    for bad in ["", "a b", "a/b", "x" * 65]:
        with pytest.raises(Invalid):
            ada.issue_id_token(bad, IdTokenType.CENTRAL, IdTokenStatus.ACCEPTED, None, T0)


def test_deactivating_blocks_every_token_once_and_keeps_the_vehicles():
    ada = a_customer()
    vehicle, _ = ada.link_vehicle(None, "AB123", VehicleKind.CAR, Fuel.EV, T0)
    tokens = [
        a_token(token="T1"),
        a_token(token="T2", status=IdTokenStatus.BLOCKED),
        a_token(token="T3", expires_at=T0 - timedelta(days=1)),
    ]
    at = T0 + timedelta(hours=2)
    events = ada.deactivate(tokens, at)
    assert [(e.id_token, e.status) for e in events] == [
        ("T1", IdTokenStatus.BLOCKED),
        ("T3", IdTokenStatus.EXPIRED),  # blocked too, and past its expiry
    ]
    assert all(t.status is IdTokenStatus.BLOCKED for t in tokens)
    assert not ada.active and ada.updated_at == at and vehicle.customer_id == "c-1"
    assert ada.deactivate(tokens, at) == []


def test_a_deactivated_customer_gets_no_new_vehicles_or_tokens():
    ada = a_customer()
    ada.deactivate([], T0)
    with pytest.raises(CustomerDeactivated):
        ada.link_vehicle(None, "AB123", VehicleKind.CAR, Fuel.EV, T0)
    with pytest.raises(CustomerDeactivated):
        ada.issue_id_token("T1", IdTokenType.CENTRAL, IdTokenStatus.ACCEPTED, None, T0)


def test_a_deactivated_customers_tokens_answer_blocked_and_stay_blocked():
    ada = a_customer()
    token = a_token()
    ada.deactivate([token], T0)
    token.status = IdTokenStatus.ACCEPTED  # as if a change slipped in meanwhile
    assert ada.id_token_status(token, T0) is IdTokenStatus.BLOCKED
    with pytest.raises(CustomerDeactivated):
        ada.change_id_token(token, IdTokenStatus.ACCEPTED, None, T0)


def test_a_token_changes_only_through_its_own_customer():
    with pytest.raises(UnknownIdToken) as unknown:
        a_customer("c-2").change_id_token(a_token("c-1"), IdTokenStatus.BLOCKED, None, T0)
    assert isinstance(unknown.value, NotFound)


def test_an_unchanged_token_emits_nothing():
    token = a_token()
    assert a_customer().change_id_token(token, IdTokenStatus.ACCEPTED, None, T0) is None


def test_every_event_matches_its_schema_and_carries_no_name_or_email():
    ada = a_customer()
    _, created = Customer.register("c-1", "Ada", "ada@example.org", T0)
    vehicle, linked = ada.link_vehicle(None, "AB123", VehicleKind.CAR, Fuel.EV, T0)
    _, issued = ada.issue_id_token(
        "T1", IdTokenType.CENTRAL, IdTokenStatus.ACCEPTED, T0 + timedelta(days=1), T0
    )
    for event in [created, linked, issued, ada.unlink_vehicle(vehicle, T0)]:
        doc = envelope_of(event)
        validate_event(doc)
        assert "Ada" not in str(doc) and "example.org" not in str(doc)
