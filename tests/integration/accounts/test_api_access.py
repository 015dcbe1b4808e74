"""Who may do what: scopes, a customer's own token, and what never leaves the service."""

from __future__ import annotations

import json

import pytest

from accounts import api
from tests.support.accounts import customer, operator, outbox_events, problem_of

CAR = {"regnum": "AB123", "kind": "CAR", "fuel": "EV"}
CARD = {"id_token": "CARD-A", "type": "ISO14443"}


@pytest.fixture
def ops(issuer):
    return operator(issuer)


@pytest.fixture
async def two_customers(client, ops):
    """Ada and Bob, each with a car and a card; returns their ids."""
    ids = []
    for name, regnum, card in [("Ada", "AB123", "CARD-A"), ("Bob", "CD456", "CARD-B")]:
        response = await client.post("/customers", json={"name": name}, headers=ops)
        customer_id = (await response.json())["id"]
        car = {**CAR, "regnum": regnum}
        await client.post(f"/customers/{customer_id}/vehicles", json=car, headers=ops)
        await client.post(
            f"/customers/{customer_id}/id-tokens", json={**CARD, "id_token": card}, headers=ops
        )
        ids.append(customer_id)
    return ids


def concrete(path: str) -> str:
    return path.format(customer_id="c-1", regnum="AB123", token="CARD-A")


async def test_every_route_needs_a_bearer_token(client):
    for route in api.routes:
        response = await client.request(route.method, concrete(route.path))
        await problem_of(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_reads_need_accounts_read_and_writes_accounts_write(client, issuer):
    reader = operator(issuer, "accounts:read")
    stranger = operator(issuer, "charging:read charging:write")
    for route in api.routes:
        path = concrete(route.path)
        await problem_of(await client.request(route.method, path, headers=stranger), 403)
        if route.method != "GET":
            await problem_of(await client.request(route.method, path, headers=reader), 403)


async def test_admin_may_do_everything(client, issuer):
    admin = operator(issuer, "admin")
    response = await client.post("/customers", json={"name": "Ada"}, headers=admin)
    assert response.status == 201
    assert (await client.get("/customers", headers=admin)).status == 200


async def test_a_customer_reads_and_changes_its_own_data(client, issuer, two_customers):
    ada, _ = two_customers
    me = customer(issuer, ada)
    assert (await (await client.get(f"/customers/{ada}", headers=me)).json())["name"] == "Ada"
    changed = await client.patch(f"/customers/{ada}", json={"name": "Ada L."}, headers=me)
    assert changed.status == 200
    vehicles = await (await client.get(f"/customers/{ada}/vehicles", headers=me)).json()
    assert [v["regnum"] for v in vehicles["items"]] == ["AB123"]
    van = {"regnum": "EF789", "kind": "VAN", "fuel": "EV"}
    assert (await client.post(f"/customers/{ada}/vehicles", json=van, headers=me)).status == 201
    assert (await client.delete(f"/customers/{ada}/vehicles/EF789", headers=me)).status == 204
    assert (await client.get("/vehicles/AB123", headers=me)).status == 200
    assert (await client.get("/id-tokens/CARD-A", headers=me)).status == 200
    tokens = await (await client.get(f"/customers/{ada}/id-tokens", headers=me)).json()
    assert [t["id_token"] for t in tokens["items"]] == ["CARD-A"]


async def test_a_customer_cannot_see_or_touch_another_customer(client, issuer, two_customers):
    ada, bob = two_customers
    me = customer(issuer, ada)
    unknown = await problem_of(await client.get("/customers/nobody", headers=me), 404)
    attempts = [
        ("GET", f"/customers/{bob}", None),
        ("PATCH", f"/customers/{bob}", {"name": "Mallory"}),
        ("POST", f"/customers/{bob}/deactivate", None),
        ("GET", f"/customers/{bob}/vehicles", None),
        ("POST", f"/customers/{bob}/vehicles", {**CAR, "regnum": "XY999"}),
        ("DELETE", f"/customers/{bob}/vehicles/CD456", None),
        ("GET", f"/customers/{bob}/id-tokens", None),
        ("POST", f"/customers/{bob}/id-tokens", {**CARD, "id_token": "CARD-C"}),
        ("PATCH", f"/customers/{bob}/id-tokens/CARD-B", {"status": "Blocked"}),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=me)
        problem = await problem_of(response, 404)
        # Word for word what an id that does not exist gets, so ids cannot be probed.
        assert problem == {**unknown, "detail": unknown["detail"].replace("nobody", bob)}
    await problem_of(await client.get("/vehicles/CD456", headers=me), 404)
    await problem_of(await client.get("/id-tokens/CARD-B", headers=me), 404)
    ops = operator(issuer)
    bob_now = await (await client.get(f"/customers/{bob}", headers=ops)).json()
    assert (bob_now["name"], bob_now["status"]) == ("Bob", "active")
    bobs_cars = await (await client.get(f"/customers/{bob}/vehicles", headers=ops)).json()
    assert [v["regnum"] for v in bobs_cars["items"]] == ["CD456"]


async def test_a_customer_cannot_search_create_customers_or_issue_tokens(
    client, issuer, two_customers
):
    ada, _ = two_customers
    me = customer(issuer, ada)
    await problem_of(await client.get("/customers", headers=me), 403)
    await problem_of(await client.post("/customers", json={"name": "Eve"}, headers=me), 403)
    card = {**CARD, "id_token": "CARD-NEW"}
    await problem_of(await client.post(f"/customers/{ada}/id-tokens", json=card, headers=me), 403)


async def test_a_customer_may_block_its_card_but_not_unblock_it(client, issuer, two_customers):
    ada, _ = two_customers
    me = customer(issuer, ada)
    path = f"/customers/{ada}/id-tokens/CARD-A"
    blocked = await client.patch(path, json={"status": "Blocked"}, headers=me)
    assert blocked.status == 200 and (await blocked.json())["status"] == "Blocked"
    for change in [{"status": "Accepted"}, {"expires_at": None}]:
        await problem_of(await client.patch(path, json=change, headers=me), 403)


async def test_events_name_ids_and_regnums_never_names_or_emails(client, ops, db):
    body = {"name": "Ada Lovelace", "email": "ada@example.org", "password": "correct horse"}
    ada = (await (await client.post("/customers", json=body, headers=ops)).json())["id"]
    await client.post(f"/customers/{ada}/vehicles", json=CAR, headers=ops)
    await client.post(f"/customers/{ada}/id-tokens", json=CARD, headers=ops)
    await client.delete(f"/customers/{ada}/vehicles/AB123", headers=ops)
    await client.post(f"/customers/{ada}/deactivate", headers=ops)
    events = await outbox_events(db)
    assert [e["event"] for e in events] == [
        "CustomerCreated",
        "VehicleLinked",
        "IdTokenChanged",
        "VehicleUnlinked",
        "IdTokenChanged",
    ]
    assert all(e["customer_id"] == ada for e in events)
    assert events[-1]["status"] == "Blocked"
    text = json.dumps(events)
    for secret in ["Ada", "Lovelace", "ada@example.org", "correct horse", "argon2"]:
        assert secret not in text


async def test_no_response_ever_carries_a_password_or_its_hash(client, issuer, ops):
    body = {"name": "Ada", "email": "ada@example.org", "password": "correct horse"}
    created = await client.post("/customers", json=body, headers=ops)
    ada = (await created.json())["id"]
    me = customer(issuer, ada)
    responses = [
        created,
        await client.get(f"/customers/{ada}", headers=ops),
        await client.get(f"/customers/{ada}", headers=me),
        await client.get("/customers", params={"query": "ada"}, headers=ops),
        await client.patch(f"/customers/{ada}", json={"password": "horse battery"}, headers=me),
        await client.post(f"/customers/{ada}/deactivate", headers=ops),
        await client.post("/customers", json={**body, "name": "Eve"}, headers=ops),  # 409
        await client.get("/openapi.json"),
    ]
    for response in responses:
        text = await response.text()
        assert "correct horse" not in text and "horse battery" not in text
        assert "argon2" not in text and "password_hash" not in text
