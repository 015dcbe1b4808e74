"""Webhook delivery of incident changes: the receiver down, then up -> each delivered once, in
order per incident; retried with backoff; given up after the configured attempts."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from aiohttp import web

from ops.domain import RuleSpec
from tests.support.ops import at, build_ops, issued, status
from tests.support.procs import free_port


class Receiver:
    def __init__(self, port: int) -> None:
        self.port = port
        self.got: list[dict[str, Any]] = []
        self.headers: list[str] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def up(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            self.got.append(json.loads(await request.read()))
            self.headers.append(request.headers["X-Chargepark-Event"])
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/hook", hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def test_the_receiver_down_then_up_gets_each_change_once_and_in_order(sqlite_db, clock):
    receiver = Receiver(free_port())
    ops = await build_ops(sqlite_db, clock, webhook_url=receiver.url)
    try:
        clock.at = at(0)
        await ops.alerts.create_rule(RuleSpec.of({"kind": "charger_faulted", "window_sec": 60}))
        await ops.feed(status("CP-1", 1, "Faulted", at(0), "OverVoltage"))
        clock.at = at(2)
        assert await ops.alerts.evaluate_all() == 1
        assert await ops.alerts.deliver_due() == 0  # nobody listens
        await ops.feed(status("CP-1", 1, "Available", at(3)))
        clock.at = at(3)
        assert await ops.alerts.evaluate_all() == 1  # resolved while the receiver is down
        assert await ops.alerts.deliver_due() == 0  # the raise (tried again) goes first

        [incident] = await ops.alerts.incidents(None, None, 10)
        detail = await ops.alerts.incident(incident["id"])
        raised, resolved = detail["deliveries"]
        assert (raised["state"], raised["attempts"]) == ("pending", 2)
        assert raised["last_error"] and resolved["attempts"] == 0

        await receiver.up()
        clock.advance(seconds=9)  # the next retry is 10 s after the second failure
        assert await ops.alerts.deliver_due() == 0 and receiver.got == []
        clock.advance(seconds=1)
        assert await ops.alerts.deliver_due() == 2
        assert receiver.headers == ["AlertRaised", "AlertResolved"]
        assert [e["incident_id"] for e in receiver.got] == [incident["id"]] * 2
        assert receiver.got[0]["message"].startswith("charger CP-1 faulted")

        clock.advance(minutes=30)
        assert await ops.alerts.deliver_due() == 0
        assert len(receiver.got) == 2  # delivered once each
        states = [d["state"] for d in (await ops.alerts.incident(incident["id"]))["deliveries"]]
        assert states == ["delivered", "delivered"]
    finally:
        await receiver.down()
        await ops.alerts.close()


async def test_deliveries_back_off_and_give_up(sqlite_db, clock):
    receiver = Receiver(free_port())  # never up
    ops = await build_ops(sqlite_db, clock, webhook_url=receiver.url)
    try:
        clock.at = at(0)
        await ops.alerts.create_rule(RuleSpec.of({"kind": "invoice_unpaid", "window_sec": 0}))
        await ops.feed(issued("inv-1", at(0), 100))
        clock.at = at(1)
        assert await ops.alerts.evaluate_all() == 1
        [incident] = await ops.alerts.incidents(None, None, 1)
        tried_at = []
        while True:
            tried_at.append(clock.at)
            assert await ops.alerts.deliver_due() == 0
            [delivery] = (await ops.alerts.incident(incident["id"]))["deliveries"]
            if delivery["next_attempt_at"] is None:
                break
            clock.at = datetime.fromisoformat(delivery["next_attempt_at"])
        assert (delivery["state"], delivery["attempts"]) == ("failed", 5)  # build_ops allows 5
        gaps = [(b - a).total_seconds() for a, b in pairwise(tried_at)]
        assert gaps == [5, 10, 20, 40]
        assert ops.alerts.backoff(100) == timedelta(seconds=600)  # capped
    finally:
        await ops.alerts.close()
