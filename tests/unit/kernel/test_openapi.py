"""The OpenAPI documents say what the kernel answers around every handler, not only the
handler's own statuses: a schema-driven client or fuzzer must agree with the server."""

from __future__ import annotations

import fastjsonschema
from aiohttp import web

from chargepark.auth import public, requires
from chargepark.http.openapi import build_openapi, operation
from chargepark.http.query import TIME_PARAM, int_param

BODY = {"type": "object", "properties": {"n": {"type": "integer"}}}
REGNUM = {"type": "string", "pattern": "^[A-Z0-9]{1,16}$"}


@requires("things:write")
@operation("Change a thing", request=BODY, responses={200: "Changed", 404: "No such thing"})
async def change_thing(request: web.Request) -> web.Response:
    raise AssertionError("never called")


@operation("Read a vehicle", parameters={"regnum": REGNUM})
async def read_vehicle(request: web.Request) -> web.Response:
    raise AssertionError("never called")


@public
@operation("Health")
async def health(request: web.Request) -> web.Response:
    raise AssertionError("never called")


def document() -> dict:
    app = web.Application()
    app.router.add_patch("/things/{thing_id}", change_thing)
    app.router.add_get("/vehicles/{regnum}", read_vehicle)
    app.router.add_get("/healthz", health)
    return build_openapi(app, title="test", version="1")


def test_an_operation_with_a_body_documents_what_reading_the_body_answers():
    responses = document()["paths"]["/things/{thing_id}"]["patch"]["responses"]
    assert {"400", "413", "415", "422"} <= set(responses)
    assert {"200", "404"} <= set(responses)  # the handler's own stay


def test_a_protected_operation_documents_the_bearer_check_and_a_dependency_down():
    doc = document()
    change = doc["paths"]["/things/{thing_id}"]["patch"]
    assert {"401", "403", "503"} <= set(change["responses"])
    assert change["security"] == [{"bearer": ["things:write"]}]
    read = doc["paths"]["/vehicles/{regnum}"]["get"]
    assert {"401", "503"} <= set(read["responses"]) and "403" not in read["responses"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_a_public_operation_without_a_body_documents_only_its_own_answers():
    health_op = document()["paths"]["/healthz"]["get"]
    assert set(health_op["responses"]) == {"200"} and "security" not in health_op


def test_errors_are_documented_as_problem_json_that_a_real_problem_matches():
    doc = document()
    error = doc["paths"]["/things/{thing_id}"]["patch"]["responses"]["415"]
    assert error["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    check = fastjsonschema.compile(doc["components"]["schemas"]["Problem"])
    check({"type": "about:blank", "title": "Unsupported Media Type", "status": 415, "detail": "x"})


def test_a_path_parameter_the_handler_checks_is_documented_with_its_rule():
    params = document()["paths"]["/vehicles/{regnum}"]["get"]["parameters"]
    assert params == [{"name": "regnum", "in": "path", "required": True, "schema": REGNUM}]


@operation("Things, a page at a time", query={"limit": int_param(1, 200), "from": TIME_PARAM})
async def list_things(request: web.Request) -> web.Response:
    raise AssertionError("never called")


def test_the_query_parameters_a_handler_reads_are_documented_with_their_rules():
    app = web.Application()
    app.router.add_get("/things", list_things)
    params = build_openapi(app, title="test", version="1")["paths"]["/things"]["get"]["parameters"]
    assert params == [
        {"name": "limit", "in": "query", "required": False, "schema": int_param(1, 200)},
        {"name": "from", "in": "query", "required": False, "schema": TIME_PARAM},
    ]
    assert int_param(1, 200) == {"type": "integer", "minimum": 1, "maximum": 200}
