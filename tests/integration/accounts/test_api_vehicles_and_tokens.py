"""Vehicles and id tokens over real HTTP, with the lookups parking, billing and csms make."""

from __future__ import annotations

import re

import pytest

from accounts.domain import REGNUM_PATTERN, normalize_regnum
from chargepark.errors import Invalid
from tests.support.accounts import operator, problem_of

CAR = {"regnum": "ab-123", "kind": "CAR", "fuel": "EV"}
CARD = {"id_token": "04A2B3C4D5", "type": "ISO14443"}


@pytest.fixture
def ops(issuer):
    return operator(issuer)


async def a_customer(client, ops, name: str = "Ada") -> str:
    response = await client.post("/customers", json={"name": name}, headers=ops)
    return (await response.json())["id"]


async def test_a_linked_vehicle_is_normalized_listed_looked_up_and_unlinked(client, ops):
    ada = await a_customer(client, ops)
    response = await client.post(f"/customers/{ada}/vehicles", json=CAR, headers=ops)
    assert response.status == 201
    vehicle = {
        "regnum": "AB123",
        "kind": "CAR",
        "fuel": "EV",
        "customer_id": ada,
        "linked_at": "2026-11-27T09:00:00Z",
    }
    assert await response.json() == vehicle
    listed = await client.get(f"/customers/{ada}/vehicles", headers=ops)
    assert await listed.json() == {"items": [vehicle]}
    owner = await client.get("/vehicles/AB-123", headers=ops)
    assert await owner.json() == {
        "regnum": "AB123",
        "kind": "CAR",
        "fuel": "EV",
        "customer_id": ada,
    }
    deleted = await client.delete(f"/customers/{ada}/vehicles/ab 123", headers=ops)
    assert deleted.status == 204
    await problem_of(await client.get("/vehicles/AB123", headers=ops), 404)
    await problem_of(await client.delete(f"/customers/{ada}/vehicles/AB123", headers=ops), 404)


async def test_a_vehicle_has_one_owner_and_relinking_updates_it(client, ops):
    ada, bob = await a_customer(client, ops), await a_customer(client, ops, "Bob")
    await client.post(f"/customers/{ada}/vehicles", json=CAR, headers=ops)
    taken = {**CAR, "regnum": "AB 123"}
    body = await problem_of(
        await client.post(f"/customers/{bob}/vehicles", json=taken, headers=ops), 409
    )
    assert ada not in body["detail"]
    relinked = await client.post(
        f"/customers/{ada}/vehicles", json={**CAR, "fuel": "ICE"}, headers=ops
    )
    assert relinked.status == 200 and (await relinked.json())["fuel"] == "ICE"


@pytest.mark.parametrize(
    "body",
    [
        {**CAR, "kind": "TRUCK"},
        {**CAR, "fuel": "HYDROGEN"},
        {**CAR, "regnum": "AB_123"},
        {**CAR, "regnum": ""},
        {**CAR, "regnum": "A" * 17},
        {**CAR, "colour": "red"},
        {"regnum": "AB123", "kind": "CAR"},
    ],
)
async def test_a_bad_vehicle_is_a_422_problem(client, ops, body):
    ada = await a_customer(client, ops)
    await problem_of(await client.post(f"/customers/{ada}/vehicles", json=body, headers=ops), 422)


async def test_a_malformed_regnum_lookup_is_a_422_problem(client, ops):
    await problem_of(await client.get("/vehicles/AB_123", headers=ops), 422)


async def test_an_issued_id_token_is_listed_looked_up_and_expires(client, ops, clock):
    ada = await a_customer(client, ops)
    card = {**CARD, "expires_at": "2026-11-27T11:00:00+01:00"}
    response = await client.post(f"/customers/{ada}/id-tokens", json=card, headers=ops)
    assert response.status == 201
    issued = {
        "id_token": "04A2B3C4D5",
        "type": "ISO14443",
        "status": "Accepted",
        "expires_at": "2026-11-27T10:00:00Z",
        "customer_id": ada,
    }
    assert await response.json() == issued
    assert await (await client.get("/id-tokens/04A2B3C4D5", headers=ops)).json() == issued
    listed = await client.get(f"/customers/{ada}/id-tokens", headers=ops)
    assert await listed.json() == {"items": [issued]}
    clock.advance(hours=1)
    expired = await (await client.get("/id-tokens/04A2B3C4D5", headers=ops)).json()
    assert expired["status"] == "Expired"
    await problem_of(await client.get("/id-tokens/unknown", headers=ops), 404)


async def test_an_id_token_is_issued_once(client, ops):
    ada, bob = await a_customer(client, ops), await a_customer(client, ops, "Bob")
    await client.post(f"/customers/{ada}/id-tokens", json=CARD, headers=ops)
    await problem_of(await client.post(f"/customers/{bob}/id-tokens", json=CARD, headers=ops), 409)


async def test_an_id_token_is_blocked_and_renewed(client, ops):
    ada = await a_customer(client, ops)
    await client.post(f"/customers/{ada}/id-tokens", json=CARD, headers=ops)
    path = f"/customers/{ada}/id-tokens/04A2B3C4D5"
    blocked = await client.patch(path, json={"status": "Blocked"}, headers=ops)
    assert (await blocked.json())["status"] == "Blocked"
    lookup = await (await client.get("/id-tokens/04A2B3C4D5", headers=ops)).json()
    assert lookup["status"] == "Blocked"
    renewal = {"status": "Accepted", "expires_at": "2027-01-01T00:00:00Z"}
    renewed = await (await client.patch(path, json=renewal, headers=ops)).json()
    assert (renewed["status"], renewed["expires_at"]) == ("Accepted", "2027-01-01T00:00:00Z")
    forever = await (await client.patch(path, json={"expires_at": None}, headers=ops)).json()
    assert forever["expires_at"] is None
    other = f"/customers/{ada}/id-tokens/NOPE"
    await problem_of(await client.patch(other, json={"status": "Blocked"}, headers=ops), 404)


@pytest.mark.parametrize(
    "body",
    [
        {**CARD, "type": "Barcode"},
        {**CARD, "status": "Maybe"},
        {**CARD, "id_token": ""},
        {**CARD, "id_token": "has space"},
        {**CARD, "id_token": "a/b"},
        {**CARD, "id_token": "X" * 65},
        {**CARD, "expires_at": "tomorrow"},
        {**CARD, "expires_at": "2026-12-01T00:00:00"},
        {**CARD, "customer_id": "someone"},
        {"id_token": "04A2B3C4D5"},
    ],
)
async def test_a_bad_id_token_is_a_422_problem(client, ops, body):
    ada = await a_customer(client, ops)
    await problem_of(await client.post(f"/customers/{ada}/id-tokens", json=body, headers=ops), 422)


async def test_a_deactivated_customer_keeps_vehicles_but_its_tokens_answer_blocked(client, ops):
    ada = await a_customer(client, ops)
    await client.post(f"/customers/{ada}/vehicles", json=CAR, headers=ops)
    await client.post(f"/customers/{ada}/id-tokens", json=CARD, headers=ops)
    await client.post(f"/customers/{ada}/deactivate", headers=ops)
    lookup = await (await client.get("/id-tokens/04A2B3C4D5", headers=ops)).json()
    assert lookup["status"] == "Blocked"
    assert (await client.get("/vehicles/AB123", headers=ops)).status == 200
    new_car = {**CAR, "regnum": "CD456"}
    await problem_of(
        await client.post(f"/customers/{ada}/vehicles", json=new_car, headers=ops), 409
    )
    new_card = {**CARD, "id_token": "FFFF"}
    await problem_of(
        await client.post(f"/customers/{ada}/id-tokens", json=new_card, headers=ops), 409
    )
    unblock = {"status": "Accepted"}
    path = f"/customers/{ada}/id-tokens/04A2B3C4D5"
    await problem_of(await client.patch(path, json=unblock, headers=ops), 409)


async def test_the_document_states_the_regnum_rule_and_the_422_of_unlinking(client, ops):
    doc = await (await client.get("/openapi.json")).json()
    unlink = doc["paths"]["/customers/{customer_id}/vehicles/{regnum}"]["delete"]
    assert "422" in unlink["responses"]
    regnum = {p["name"]: p["schema"] for p in unlink["parameters"]}["regnum"]
    assert regnum["pattern"] == REGNUM_PATTERN
    # The published rule and the one the service applies agree, both ways.
    for raw in (
        "ab-123 c",
        "AB123",
        " -X- ",
        "A" * 16,
        "F)",
        "",
        "-",
        "A" * 17,
        "ÄB1",
        "AB\u00a01",
    ):
        try:
            normalize_regnum(raw)
            accepted = True
        except Invalid:
            accepted = False
        assert accepted == bool(re.search(REGNUM_PATTERN, raw)), raw
    customer = await a_customer(client, ops)
    r = await client.delete(f"/customers/{customer}/vehicles/F)", headers=ops)
    await problem_of(r, 422)


async def test_oauth_errors_are_documented_as_the_json_they_are(client):
    doc = await (await client.get("/openapi.json")).json()
    token_op = doc["paths"]["/auth/token"]["post"]
    for status in ("400", "401"):
        assert set(token_op["responses"][status]["content"]) == {"application/json"}
    r = await client.post("/auth/token", json={"grant_type": "client_credentials"})
    assert r.status == 400 and r.content_type == "application/json"
    assert (await r.json())["error"] == "invalid_request"
