"""The scenario runner's steps against a stand-in for the platform (aiohttp, real HTTP) that
loses answers: a park or a leave applied but answered 502 or with a dropped connection is found
applied by a state check instead of being sent again (a second park would be refused and the
car turned away); waiting for invoices rides out billing's 502s and ends only at its own
deadline, saying what is missing."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from simulators.rest import PlatformClient
from simulators.retry import RetryPolicy
from simulators.scenario.model import builtin, load
from simulators.scenario.runner import ScenarioRunner
from tests.support.sim_outage import FakeTime, port_of


class LossyParking:
    """Parking's park, leave, where-is and history, applying each call but losing the first
    `lose` answers: 502 for a park (a gateway that lost the answer), a dropped connection for a
    leave."""

    def __init__(self, lose: int = 1) -> None:
        self.lose = lose
        self.parked: dict[str, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []
        self.calls: list[str] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/parking/lots/{lot}/park", self.park)
        app.router.add_post("/parking/lots/{lot}/leave", self.leave)
        app.router.add_get("/parking/vehicles/{regnum}", self.where)
        app.router.add_get("/parking/lots/{lot}/history", self.history_page)

    async def park(self, request: web.Request) -> web.StreamResponse:
        self.calls.append("POST park")
        body = await request.json()
        if body["regnum"] in self.parked:
            return _problem(409, "vehicle already parked")
        lot = request.match_info["lot"]
        self.parked[body["regnum"]] = {"lot_id": lot, "slot_ui": 2, "level": 0, "since": body["ts"]}
        if self.lose:
            self.lose -= 1
            return _problem(502, "The service behind this path is not reachable")
        return web.json_response({"ok": True, "slot_ui": 2, "level": 0})

    async def leave(self, request: web.Request) -> web.StreamResponse:
        self.calls.append("POST leave")
        body = await request.json()
        stay = self.parked.pop(body["regnum"], None)
        if stay is None:
            return _problem(404, "no such vehicle parked")
        row = {"action": "LEAVE", "ts": body["ts"], "slot_ui": 2, "duration_sec": 8130}
        self.history.append({**row, "regnum": body["regnum"]})
        if self.lose:
            self.lose -= 1
            assert request.transport is not None
            request.transport.close()
        return web.json_response({"ok": True, "slot_ui": 2, "duration_sec": 8130})

    async def where(self, request: web.Request) -> web.Response:
        self.calls.append("GET where")
        found = self.parked.get(request.match_info["regnum"])
        return web.json_response(found) if found else _problem(404, "not parked")

    async def history_page(self, request: web.Request) -> web.Response:
        self.calls.append("GET history")
        rows = [r for r in self.history if r["regnum"] == request.query.get("regnum")]
        return web.json_response({"items": rows, "next_after": None})


def _problem(status: int, detail: str) -> web.Response:
    return web.json_response({"status": status, "detail": detail}, status=status)


@pytest.fixture
async def parking() -> AsyncIterator[tuple[LossyParking, str]]:
    stand_in = LossyParking()
    app = web.Application()
    stand_in.routes(app)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield stand_in, f"http://127.0.0.1:{port_of(runner)}"
    await runner.cleanup()


def single_visit(client: Any, **kw: Any) -> tuple[ScenarioRunner, list[str]]:
    out: list[str] = []
    runner = ScenarioRunner(
        load(builtin("single-visit")), client, "ws://127.0.0.1:9/ocpp", out=out.append, **kw
    )
    return runner, out


async def test_a_park_whose_answer_was_lost_is_found_parked_not_turned_away(parking):
    stand_in, base = parking
    async with PlatformClient(base, token="t", retry=FakeTime().policy()) as client:
        runner, out = single_visit(client)
        [car] = runner.cars.values()
        arrive = car.spec.steps[0]
        await runner._car_step(car, arrive)
    assert (car.parked, car.gone, car.slot_ui) == (True, False, 2), out
    # Sent once; before sending it again the runner looked, and found the car parked.
    assert stand_in.calls == ["POST park", "GET where"]
    assert client.stats.reconciled == 1 and dict(client.stats.retries) == {"HTTP 502": 1}
    assert "parks in slot 2" in out[-1]


async def test_a_leave_whose_connection_dropped_is_found_in_the_history(parking):
    stand_in, base = parking
    stand_in.lose = 0
    async with PlatformClient(base, token="t", retry=FakeTime().policy()) as client:
        runner, out = single_visit(client)
        [car] = runner.cars.values()
        steps = {s.do: s for s in car.spec.steps}
        await runner._car_step(car, steps["arrive"])
        stand_in.lose = 1
        await runner._car_step(car, steps["leave"])
    assert (car.parked, car.visits) == (False, 1), out
    assert stand_in.calls == ["POST park", "POST leave", "GET where", "GET history"]
    assert "leaves after 2:15:30" in out[-1]


class Billing:
    """GET /billing/invoices and /billing/invoices/{id}: `failing` calls answer 502 first."""

    def __init__(self, failing: int, invoice: dict[str, Any]) -> None:
        self.failing, self.invoice, self.calls = failing, invoice, 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.failing:
            self.failing -= 1
            return _problem(502, "The service behind this path is not reachable")
        if request.path.endswith("/invoices"):
            return web.json_response({"items": [self.invoice], "next_after": None})
        return web.json_response(self.invoice)


async def billing_at(billing: Billing) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get("/billing/invoices", billing.handle)
    app.router.add_get("/billing/invoices/{id}", billing.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{port_of(runner)}"


INVOICE = {"id": "inv-1", "customer_id": "cust-1", "status": "paid", "visit_id": "v-1"}


async def test_waiting_for_invoices_rides_out_billings_502s():
    billing = Billing(failing=5, invoice=INVOICE)
    server, base = await billing_at(billing)
    try:
        async with PlatformClient(base, token="t", retry=FakeTime().policy()) as client:
            runner, _ = single_visit(client, invoice_wait=30)
            [car] = runner.cars.values()
            car.customer_id = "cust-1"
            invoices = await runner._invoices(visits=1)
    finally:
        await server.cleanup()
    assert invoices == [INVOICE]
    assert runner.errors == [] and client.stats.retries == {"HTTP 502": 5}


async def test_waiting_for_invoices_ends_at_its_deadline_saying_what_is_missing():
    billing = Billing(failing=10**6, invoice=INVOICE)
    server, base = await billing_at(billing)
    policy = RetryPolicy(deadline=60, base=0.05, cap=0.2)  # real sleeps, but short ones
    started = time.monotonic()
    try:
        async with PlatformClient(base, token="t", retry=policy) as client:
            runner, out = single_visit(client, invoice_wait=1.5)
            invoices = await runner._invoices(visits=1)
    finally:
        await server.cleanup()
    took = time.monotonic() - started
    assert invoices == []
    assert 1.5 <= took < 3.0  # the run's wait, not the client's 60 s
    [line] = runner.errors
    assert line.startswith("billing: 0 of 1 visit(s) invoiced within 1.5 s; billing's last answer")
    assert "HTTP 502" in line and "\n" not in line
    assert out[-1] == line
