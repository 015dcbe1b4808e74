"""Customers over real HTTP: create, read, search, change, deactivate, and bad input."""

from __future__ import annotations

import pytest

from accounts import api
from tests.support.accounts import operator, problem_of

ADA = {"name": "Ada Lovelace", "email": "Ada@Example.org", "password": "correct horse"}


@pytest.fixture
def ops(issuer):
    return operator(issuer)


async def create(client, ops, **body):
    response = await client.post("/customers", json=body or ADA, headers=ops)
    assert response.status == 201, await response.text()
    return await response.json()


async def test_a_created_customer_is_at_its_location_without_any_password(client, ops):
    response = await client.post("/customers", json=ADA, headers=ops)
    assert response.status == 201
    text = await response.text()
    assert "password" not in text and "argon2" not in text and "correct horse" not in text
    created = await response.json()
    assert created == {
        "id": created["id"],
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "status": "active",
        "created_at": "2026-11-27T09:00:00Z",
        "updated_at": "2026-11-27T09:00:00Z",
    }
    assert response.headers["Location"] == f"/customers/{created['id']}"
    fetched = await client.get(response.headers["Location"], headers=ops)
    assert fetched.status == 200 and await fetched.json() == created


async def test_an_unknown_customer_is_a_404_problem(client, ops):
    for path in ["/customers/nobody", "/customers/00000000-0000-0000-0000-000000000000"]:
        body = await problem_of(await client.get(path, headers=ops), 404)
        assert body["type"] == "urn:chargepark:problem:not-found"
    await problem_of(await client.patch("/customers/nobody", json={"name": "X"}, headers=ops), 404)
    await problem_of(await client.post("/customers/nobody/deactivate", headers=ops), 404)


async def test_an_email_in_use_is_a_409_problem(client, ops):
    await create(client, ops)
    body = await problem_of(
        await client.post(
            "/customers", json={"name": "Eve", "email": "ADA@example.org"}, headers=ops
        ),
        409,
    )
    assert body["type"] == "urn:chargepark:problem:conflict"
    assert "ada@example.org" not in body["detail"]
    bob = await create(client, ops, name="Bob", email="bob@example.org")
    patch = {"email": "ada@example.org"}
    await problem_of(await client.patch(f"/customers/{bob['id']}", json=patch, headers=ops), 409)


async def test_a_customer_changes_name_email_and_password(client, ops, clock):
    ada = await create(client, ops)
    clock.advance(minutes=1)
    response = await client.patch(
        f"/customers/{ada['id']}",
        json={"name": "Ada L.", "email": None, "password": "another secret"},
        headers=ops,
    )
    assert response.status == 200
    text = await response.text()
    assert "another secret" not in text and "argon2" not in text
    changed = await response.json()
    assert (changed["name"], changed["email"], changed["updated_at"]) == (
        "Ada L.",
        None,
        "2026-11-27T09:01:00Z",
    )


async def test_deactivating_answers_the_deactivated_customer(client, ops):
    ada = await create(client, ops)
    for _ in range(2):
        response = await client.post(f"/customers/{ada['id']}/deactivate", headers=ops)
        assert response.status == 200 and (await response.json())["status"] == "deactivated"


async def test_search_pages_through_matches_oldest_first(client, ops, clock):
    ids = []
    for name in ["Ada One", "Bob", "ada two", "Ada Three"]:
        ids.append((await create(client, ops, name=name))["id"])
        clock.advance(seconds=1)
    response = await client.get("/customers", params={"query": "ADA", "limit": "2"}, headers=ops)
    page = await response.json()
    assert [c["id"] for c in page["items"]] == [ids[0], ids[2]]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    response = await client.get(
        "/customers", params={"query": "ada", "limit": "2", "offset": "2"}, headers=ops
    )
    assert [c["id"] for c in (await response.json())["items"]] == [ids[3]]
    everyone = await (await client.get("/customers", headers=ops)).json()
    assert (everyone["total"], everyone["limit"]) == (4, 50)
    by_id = await client.get("/customers", params={"query": ids[1]}, headers=ops)
    assert [c["name"] for c in (await by_id.json())["items"]] == ["Bob"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "abc"},
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "1.5"},
        {"limit": " 5"},
        {"offset": "-1"},
        {"offset": "9" * 40},
        {"query": "x" * 300},
    ],
)
async def test_a_bad_search_is_a_422_problem(client, ops, params):
    await problem_of(await client.get("/customers", params=params, headers=ops), 422)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": ""}, 422),
        ({"name": "   "}, 422),
        ({"name": "x" * 10_000}, 422),
        ({"name": "Ada", "email": "not-an-email"}, 422),
        ({"name": "Ada", "email": "x" * 300 + "@example.org"}, 422),
        ({"name": "Ada", "password": "short"}, 422),
        ({"name": "Ada", "is_admin": True}, 422),
        ({"name": "Ada", "status": "deactivated"}, 422),
        ({"email": "ada@example.org"}, 422),
        ({"name": 42}, 422),
        ({"name": "Ada\u0000"}, 422),
        (["Ada"], 422),
    ],
)
async def test_a_bad_new_customer_is_a_4xx_problem(client, ops, body, status):
    await problem_of(await client.post("/customers", json=body, headers=ops), status)


async def test_malformed_or_non_json_bodies_are_problems(client, ops):
    json_type = {**ops, "Content-Type": "application/json"}
    await problem_of(await client.post("/customers", data=b'{"name": ', headers=json_type), 400)
    await problem_of(await client.post("/customers", data=b"name=Ada", headers=ops), 415)
    ada = await create(client, ops)
    path = f"/customers/{ada['id']}"
    await problem_of(await client.patch(path, json={}, headers=ops), 422)
    await problem_of(await client.patch(path, json={"id": "other"}, headers=ops), 422)
    await problem_of(await client.patch(path, json={"password_hash": "x"}, headers=ops), 422)


async def test_the_openapi_document_describes_every_accounts_route(client, ops):
    doc = await (await client.get("/openapi.json")).json()
    for route in api.routes:
        template = route.path
        op = doc["paths"][template][route.method.lower()]
        scope = "accounts:read" if route.method == "GET" else "accounts:write"
        assert op["security"] == [{"bearer": [scope]}], template
        assert op["summary"] and op["responses"], template
        if route.method in ("POST", "PATCH") and not template.endswith("/deactivate"):
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            assert schema["additionalProperties"] is False, template
