"""The HTTP kernel over real HTTP: problem+json, correlation ids, metrics, health, OpenAPI."""

from __future__ import annotations

import logging

import asyncpg
import pytest
import sqlalchemy.exc
from aiohttp import web

from chargepark.auth import public
from chargepark.errors import NotFound
from chargepark.events.inprocess import InProcessBus
from chargepark.http.app import make_service_app
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from parking.ports import ConnectionLost
from tests.support.context import a_context

THING = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 20}},
    "required": ["name"],
    "additionalProperties": False,
}


@public
@operation("Create a thing", request=THING, responses={201: "Created"})
async def create_thing(request: web.Request) -> web.Response:
    body = await read_json(request, THING)
    return web.json_response(body, status=201)


@public
async def get_thing(request: web.Request) -> web.Response:
    raise NotFound(f"no thing {request.match_info['thing_id']}")


@public
async def explode(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals")


def dialect_error(cause: Exception) -> sqlalchemy.exc.DBAPIError:
    """As SQLAlchemy's asyncpg dialect raises what it has no class for: a plain DBAPIError
    around the dialect's own error, whose cause is asyncpg's."""
    adapted = Exception(str(cause))
    adapted.__cause__ = cause
    return sqlalchemy.exc.DBAPIError("SELECT 1", {}, adapted)


UNREACHABLE = {
    "refused": ConnectionRefusedError(111, "Connection refused"),
    "timeout": TimeoutError(),
    "operational": sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server gone")),
    "pool": sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
    "too-many": asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    # parking's park/leave unit of work, which found no live connection twice.
    "parking": ConnectionLost("no live database connection in the writers' pool"),
    # PostgreSQL restarting: a connect answered "the database system is shutting down".
    "restarting": dialect_error(
        asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")
    ),
}


@public
async def unreachable(request: web.Request) -> web.Response:
    raise UNREACHABLE[request.match_info["why"]]


@pytest.fixture
async def bus():
    bus = InProcessBus()
    await bus.start()
    yield bus
    await bus.close()


@pytest.fixture
async def client(aiohttp_client, sqlite_db, bus):
    app = make_service_app(a_context(sqlite_db, bus, max_body_bytes=1024), "test service")
    app.router.add_post("/things", create_thing)
    app.router.add_get("/things/{thing_id}", get_thing)
    app.router.add_get("/explode", explode)
    app.router.add_get("/unreachable/{why}", unreachable)
    return await aiohttp_client(app)


async def problem_of(response, status: int) -> dict:
    assert response.status == status
    assert response.content_type == "application/problem+json"
    body = await response.json(content_type=None)
    assert body["status"] == status and body["title"]
    return body


async def test_an_unknown_path_is_a_404_problem(client):
    body = await problem_of(await client.get("/nowhere"), 404)
    assert body["detail"] == "No resource at /nowhere"


async def test_a_wrong_method_is_a_405_problem_with_allow(client):
    response = await client.delete("/things")
    await problem_of(response, 405)
    assert response.headers["Allow"] == "POST"


async def test_a_body_over_the_limit_is_a_413_problem(client):
    response = await client.post(
        "/things", data=b"{" + b" " * 4096 + b"}", headers={"Content-Type": "application/json"}
    )
    await problem_of(response, 413)


async def test_a_body_of_the_wrong_shape_is_a_422_problem_naming_the_field(client):
    body = await problem_of(await client.post("/things", json={"name": ""}), 422)
    assert body["type"] == "urn:chargepark:problem:invalid"
    assert "name" in body["detail"]


async def test_malformed_json_is_a_400_problem(client):
    response = await client.post(
        "/things", data=b"{nope", headers={"Content-Type": "application/json"}
    )
    body = await problem_of(response, 400)
    assert "not valid JSON" in body["detail"]


async def test_a_body_that_is_not_json_is_a_415_problem(client):
    await problem_of(await client.post("/things", data=b"name=x"), 415)


async def test_a_valid_body_reaches_the_handler(client):
    response = await client.post("/things", json={"name": "lamp"})
    assert response.status == 201
    assert await response.json() == {"name": "lamp"}


async def test_a_domain_error_keeps_its_status_and_kind(client):
    body = await problem_of(await client.get("/things/42"), 404)
    assert body == {
        "type": "urn:chargepark:problem:not-found",
        "title": "Not Found",
        "status": 404,
        "detail": "no thing 42",
    }


async def test_an_unexpected_error_is_a_generic_500_and_is_logged(client, caplog):
    with caplog.at_level(logging.ERROR):
        response = await client.get("/explode", headers={"X-Correlation-ID": "req-500"})
        body = await problem_of(response, 500)
    assert "secret" not in body["detail"] and "Traceback" not in await response.text()
    assert any("unhandled error" in r.message for r in caplog.records)


@pytest.mark.parametrize("why", sorted(UNREACHABLE))
async def test_a_dependency_out_of_reach_is_a_503_to_retry_not_a_500(client, caplog, why):
    with caplog.at_level(logging.WARNING):
        response = await client.get(f"/unreachable/{why}")
        body = await problem_of(response, 503)
    assert body["type"] == "urn:chargepark:problem:unavailable"
    assert response.headers["Retry-After"] == "1"
    assert not any("unhandled error" in r.message for r in caplog.records)
    assert any("a dependency is unavailable" in r.message for r in caplog.records)


async def test_a_given_correlation_id_is_echoed_and_a_missing_one_is_made(client):
    given = await client.get("/healthz", headers={"X-Correlation-ID": "abc-123"})
    assert given.headers["X-Correlation-ID"] == "abc-123"
    made = await client.get("/healthz")
    assert len(made.headers["X-Correlation-ID"]) == 36
    hostile = "<script>" * 40
    answered = await client.get("/healthz", headers={"X-Correlation-ID": hostile})
    assert answered.headers["X-Correlation-ID"] != hostile


async def test_errors_carry_the_correlation_id_too(client):
    response = await client.get("/nowhere", headers={"X-Correlation-ID": "trace-me"})
    assert response.headers["X-Correlation-ID"] == "trace-me"


async def test_health_and_readiness_answer(client):
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["checks"] == {"database": "ok", "bus": "ok"}


async def test_readiness_fails_when_the_bus_is_down(client, bus):
    await bus.close()
    body = await problem_of(await client.get("/readyz"), 503)
    assert body["checks"] == {"database": "ok", "bus": "down"}


async def test_metrics_count_requests_by_route_template(client):
    await client.get("/things/1")
    await client.get("/things/2")
    text = await (await client.get("/metrics")).text()
    line = next(
        ln
        for ln in text.splitlines()
        if ln.startswith("chargepark_http_requests_total{")
        and 'service="test"' in ln
        and 'route="/things/{thing_id}"' in ln
    )
    assert float(line.rsplit(" ", 1)[1]) >= 2
    assert "chargepark_http_request_duration_seconds_bucket" in text


async def test_the_openapi_document_names_every_route(client):
    doc = await (await client.get("/openapi.json")).json()
    routes = {
        (r.resource.canonical, r.method.lower())
        for r in client.app.router.routes()
        if r.method != "HEAD"
    }
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == routes
    create = doc["paths"]["/things"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == THING
    assert doc["paths"]["/things/{thing_id}"]["get"]["parameters"][0]["name"] == "thing_id"
