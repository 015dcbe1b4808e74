"""A charger that failed or stayed silent reaches REST as the same problem+json it always did
(502 charger-error, 504 charger-timeout, with every field), though it is an Unavailable kind
and no longer a domain error: the kernel's problem middleware answers it."""

from __future__ import annotations

import pytest
from aiohttp import web

from chargepark.errors import UpstreamFailed, UpstreamTimeout
from chargepark.http.problem import problem_middleware
from csms.ports.gateway import ChargerFailed, ChargerSilent


@pytest.fixture
async def client(aiohttp_client):
    async def failed(request: web.Request) -> web.Response:
        raise ChargerFailed(
            "the charger answered the remote start with an error",
            ocpp_error="NotSupported",
            session_id="s-1",
        )

    async def silent(request: web.Request) -> web.Response:
        raise ChargerSilent("the charger did not answer the stop request", session_id="s-2")

    async def quiet(request: web.Request) -> web.Response:
        raise ChargerSilent("", command_id=None, action="Reset")

    app = web.Application(middlewares=[problem_middleware])
    app.router.add_post("/failed", failed)
    app.router.add_post("/silent", silent)
    app.router.add_post("/quiet", quiet)
    return await aiohttp_client(app)


async def test_a_charger_error_is_a_502_with_its_fields(client):
    r = await client.post("/failed")
    assert (r.status, r.content_type) == (502, "application/problem+json")
    assert await r.json() == {
        "type": "urn:chargepark:problem:charger-error",
        "title": "Bad Gateway",
        "status": 502,
        "detail": "the charger answered the remote start with an error",
        "ocpp_error": "NotSupported",
        "session_id": "s-1",
    }


async def test_silence_is_a_504_and_a_missing_detail_is_left_out(client):
    r = await client.post("/silent")
    assert r.status == 504
    assert await r.json() == {
        "type": "urn:chargepark:problem:charger-timeout",
        "title": "Gateway Timeout",
        "status": 504,
        "detail": "the charger did not answer the stop request",
        "session_id": "s-2",
    }
    assert await (await client.post("/quiet")).json() == {
        "type": "urn:chargepark:problem:charger-timeout",
        "title": "Gateway Timeout",
        "status": 504,
        "command_id": None,
        "action": "Reset",
    }


def test_they_are_unavailable_kinds_not_domain_errors():
    assert issubclass(ChargerFailed, UpstreamFailed) and issubclass(ChargerSilent, UpstreamTimeout)
