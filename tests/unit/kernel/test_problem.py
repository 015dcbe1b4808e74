"""How the problem middleware answers each error kind (chargepark.http.problem), called
directly: no server, no socket."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from chargepark.errors import (
    Invalid,
    ProgrammingError,
    SchemaViolation,
    Unavailable,
    UpstreamFailed,
    UpstreamTimeout,
)
from chargepark.http.problem import PROBLEM_JSON, problem_middleware


async def answer(error: BaseException) -> tuple[web.Response, dict]:
    async def handler(request: web.Request) -> web.StreamResponse:
        raise error

    response = await problem_middleware(make_mocked_request("POST", "/things"), handler)
    assert isinstance(response, web.Response) and response.content_type == PROBLEM_JSON
    assert response.text is not None
    return response, json.loads(response.text)


async def test_a_schema_violation_of_our_own_event_is_a_500_logged_with_its_stack(caplog):
    with caplog.at_level(logging.ERROR):
        response, body = await answer(SchemaViolation("VehicleParked: data.kind must be ..."))
    assert response.status == 500 and body["status"] == 500
    assert "kind" not in body["detail"]  # never the bug's details to the caller
    record = next(r for r in caplog.records if r.message == "programming error")
    assert record.exc_info is not None and record.exc_info[0] is SchemaViolation


async def test_any_programming_error_is_a_500_not_a_422():
    response, body = await answer(ProgrammingError("a bug of ours"))
    assert response.status == 500 and body["type"] == "about:blank"


async def test_a_business_rule_still_answers_its_own_status():
    response, body = await answer(Invalid("no such tariff"))
    assert response.status == 422 and body["type"] == "urn:chargepark:problem:invalid"


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (Unavailable("accounts did not answer"), 503, "unavailable"),
        (UpstreamFailed("the charger answered InternalError"), 502, "upstream-failed"),
        (UpstreamTimeout("the charger did not answer in 30 s"), 504, "upstream-timeout"),
    ],
    ids=["unavailable", "failed", "timeout"],
)
async def test_an_outside_party_unavailable_answers_its_status_and_kind(
    caplog, error, status, kind
):
    with caplog.at_level(logging.WARNING):
        response, body = await answer(error)
    assert response.status == status
    assert body == {
        "type": f"urn:chargepark:problem:{kind}",
        "title": body["title"],
        "status": status,
        "detail": error.detail,
    }
    assert ("Retry-After" in response.headers) == (status == 503)
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)
