"""The WebhookSender port: the fake and the HTTP sender answer alike, a 2xx as taken and an
unreachable receiver as not, with the outcome recorded for the delivery."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from ops.adapters.webhook import HttpWebhookSender
from tests.support.fakes.ops import FakeWebhookSender
from tests.support.procs import free_port


@pytest.fixture(params=["fake", "http"])
async def receiver(request, aiohttp_server):
    """(sender, url of a receiver that is up, url of one that is down, what the receiver got)."""
    got: list[tuple[dict, str]] = []
    if request.param == "fake":
        sender = FakeWebhookSender()
        yield sender, "http://up.example/hook", None, got
        return

    async def hook(req: web.Request) -> web.Response:
        got.append((json.loads(await req.read()), req.headers["X-Chargepark-Event"]))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    sender = HttpWebhookSender(timeout=2.0)
    try:
        yield sender, str(server.make_url("/hook")), f"http://127.0.0.1:{free_port()}/hook", got
    finally:
        await sender.close()


async def test_a_2xx_is_taken_and_an_unreachable_receiver_is_not(receiver):
    sender, up, down, got = receiver
    ok, outcome = await sender.send(up, '{"n":1}', {"X-Chargepark-Event": "AlertRaised"})
    assert (ok, outcome) == (True, "HTTP 204")
    if isinstance(sender, FakeWebhookSender):
        assert sender.sent == [(up, '{"n":1}', {"X-Chargepark-Event": "AlertRaised"})]
        sender.up = False
    else:
        assert got == [({"n": 1}, "AlertRaised")]
    ok, outcome = await sender.send(down or up, "{}", {})
    assert not ok and outcome
    await sender.close()
    await sender.close()  # closing twice is harmless
