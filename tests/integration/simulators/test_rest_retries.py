"""The simulators' REST client rides out an outage: against a small aiohttp server that answers
429 with Retry-After, 502/503/504 and 408, drops connections, or does not listen yet, it waits
what it should (the sleep and the clocks are injected: no test waits for real seconds but one)
and gives up only at its deadline. A POST that may have been applied is never sent again blindly."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web

from simulators.rest import PlatformClient, RestError
from simulators.retry import retry_after_seconds
from tests.support.procs import free_port
from tests.support.sim_outage import T0, FakeTime, port_of


class Script:
    """A stand-in for the platform: the first calls get the scripted answers (a status with
    headers, or "drop": the connection closes without an answer), the rest 200 with a body."""

    def __init__(self, *answers: tuple[int, dict[str, str]] | str) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, float]] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.calls.append((request.method, request.path, time.monotonic()))
        if request.path == "/accounts/auth/token" and not self.answers:
            return web.json_response({"access_token": "t", "expires_in": 300})
        if not self.answers:
            return web.json_response({"ok": True, "path": request.path})
        answer = self.answers.pop(0)
        if answer == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=200)
        status, headers = answer
        body = {"type": "about:blank", "status": status, "title": "scripted"}
        return web.json_response(body, status=status, headers=headers)

    def paths(self) -> list[str]:
        return [f"{m} {p}" for m, p, _ in self.calls]


async def serve(script: Script, port: int = 0) -> web.AppRunner:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


@pytest.fixture
async def platform() -> AsyncIterator[Any]:
    runners: list[web.AppRunner] = []

    async def start(*answers: Any) -> tuple[Script, str]:
        script = Script(*answers)
        runner = await serve(script)
        runners.append(runner)
        return script, f"http://127.0.0.1:{port_of(runner)}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_a_429_is_tried_again_after_its_retry_after(platform):
    script, base = await platform((429, {"Retry-After": "3"}), (429, {"Retry-After": "2"}))
    clock = FakeTime()
    async with PlatformClient(base, token="t", retry=clock.policy()) as client:
        assert await client.get("/ops/alerts") == {"ok": True, "path": "/ops/alerts"}
    assert clock.waits == [3, 2]
    assert script.paths() == ["GET /ops/alerts"] * 3
    assert dict(client.stats.retries) == {"HTTP 429": 2}


async def test_a_retry_after_as_an_http_date_is_honoured_and_a_long_one_capped(platform):
    clock = FakeTime()
    in_seven = format_datetime(clock.wall() + timedelta(seconds=7), usegmt=True)
    _, base = await platform(
        (503, {"Retry-After": in_seven}), (503, {"Retry-After": "3600"}), (503, {})
    )
    async with PlatformClient(base, token="t", retry=clock.policy(deadline=120)) as client:
        await client.get("/billing/invoices")
    # 7 s to the date; 3600 capped at 30; then no Retry-After: the back-off of a third try.
    assert clock.waits == [7, 30, 1.0]


def test_retry_after_reads_seconds_dates_and_nothing_else():
    assert retry_after_seconds("5", T0) == 5
    assert retry_after_seconds("Sun, 01 Mar 2026 12:00:10 GMT", T0) == 10
    assert retry_after_seconds("Sun, 01 Mar 2026 11:00:00 GMT", T0) == 0  # past: now
    assert retry_after_seconds("soon", T0) is None
    assert retry_after_seconds("-3", T0) is None
    assert retry_after_seconds(None, T0) is None


async def test_502_503_504_and_408_back_off_exponentially_with_jitter(platform):
    answers = [(502, {}), (503, {}), (504, {}), (408, {}), (502, {})]
    _, base = await platform(*answers)
    high = FakeTime()
    async with PlatformClient(base, token="t", retry=high.policy(jitter=1.0)) as client:
        await client.get("/parking/lots")
    assert high.waits == [0.25, 0.5, 1.0, 2.0, 4.0]  # doubling from 0.25 s
    assert dict(client.stats.retries) == {
        "HTTP 502": 2,
        "HTTP 503": 1,
        "HTTP 504": 1,
        "HTTP 408": 1,
    }

    _, base = await platform(*answers)
    low = FakeTime()
    async with PlatformClient(base, token="t", retry=low.policy(jitter=0.0)) as client:
        await client.get("/parking/lots")
    assert low.waits == [w / 2 for w in high.waits]  # jitter: between half and all of it


async def test_a_refused_connection_is_tried_until_the_platform_listens():
    port = free_port()  # nothing listens there yet
    script = Script()
    clock = FakeTime()
    started: list[web.AppRunner] = []

    async def listen_at_the_third_wait(n: int) -> None:
        if n == 3:
            started.append(await serve(script, port))

    clock.on_sleep = listen_at_the_third_wait
    try:
        async with PlatformClient(
            f"http://127.0.0.1:{port}", token="t", retry=clock.policy()
        ) as client:
            _, answer = await client.request("POST", "/parking/lots/L/park", {"regnum": "A1"})
        assert answer["path"] == "/parking/lots/L/park"
        # Refused: the request never left, so even a POST is sent again, and only once served.
        assert script.paths() == ["POST /parking/lots/L/park"]
        assert clock.waits == [0.25, 0.5, 1.0]
        assert dict(client.stats.retries) == {"connection refused": 3}
    finally:
        for runner in started:
            await runner.cleanup()


async def test_a_dropped_connection_on_a_get_is_tried_again(platform):
    script, base = await platform("drop", "drop", "drop")
    clock = FakeTime()
    async with PlatformClient(base, token="t", retry=clock.policy()) as client:
        assert (await client.get("/charging/sessions"))["ok"] is True
    assert script.paths() == ["GET /charging/sessions"] * 4
    # aiohttp itself sends a GET again once on a closed keep-alive connection; the rest is ours.
    assert set(client.stats.retries) == {"connection dropped"}


async def test_a_post_that_may_have_been_applied_is_not_sent_again_blindly(platform):
    script, base = await platform((502, {}))
    clock = FakeTime()
    async with PlatformClient(base, token="t", retry=clock.policy()) as client:
        with pytest.raises(RestError) as failed:
            await client.post("/accounts/customers", {"name": "Ann"})
    assert failed.value.status == 502 and "may have been applied" in str(failed.value)
    assert script.paths() == ["POST /accounts/customers"]
    assert clock.waits == []


async def test_a_post_is_sent_again_only_after_its_state_check_says_it_was_not_applied(platform):
    script, base = await platform((502, {}), "drop", (504, {}))
    clock = FakeTime()
    checks: list[int] = []

    async def reconcile() -> tuple[int, Any] | None:
        checks.append(len(script.calls))
        # The third check finds the park of the second try (its answer was lost).
        return (200, {"slot_ui": 7}) if len(checks) == 3 else None

    async with PlatformClient(base, token="t", retry=clock.policy()) as client:
        status, answer = await client.request(
            "POST", "/parking/lots/L/park", {"regnum": "A1"}, reconcile=reconcile
        )
    assert (status, answer) == (200, {"slot_ui": 7})
    assert checks == [1, 2, 3]  # before each new try, never before the first
    assert script.paths() == ["POST /parking/lots/L/park"] * 3
    assert client.stats.reconciled == 1


async def test_a_post_refused_by_the_rate_limit_is_sent_again_without_a_check(platform):
    script, base = await platform((429, {"Retry-After": "1"}))
    clock = FakeTime()
    async with PlatformClient(base, token="t", retry=clock.policy()) as client:
        await client.post("/accounts/customers", {"name": "Ann"})  # no reconcile needed
    assert script.paths() == ["POST /accounts/customers"] * 2 and clock.waits == [1]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422, 500])
async def test_other_errors_are_answers_and_not_tried_again(platform, status):
    script, base = await platform((status, {"Retry-After": "1"}))
    clock = FakeTime()
    async with PlatformClient(base, token="t", retry=clock.policy()) as client:
        with pytest.raises(RestError) as failed:
            await client.get("/parking/lots")
    assert failed.value.status == status and not failed.value.transient
    assert len(script.calls) == 1 and clock.waits == []


async def test_a_call_gives_up_at_its_deadline_saying_what_failed(platform):
    _, base = await platform(*[(503, {})] * 50)
    clock = FakeTime()
    async with PlatformClient(base, token="t", retry=clock.policy(deadline=10)) as client:
        with pytest.raises(RestError) as failed:
            await client.get("/billing/invoices")
    assert sum(clock.waits) <= 10
    assert clock.waits == [0.25, 0.5, 1.0, 2.0, 4.0]  # the next (8 s) would pass the deadline
    assert failed.value.status == 503 and failed.value.transient
    assert "gave up after 6 tries in 8 s" in str(failed.value)
    assert client.stats.gave_up == 1


async def test_the_token_request_rides_out_an_outage_too(platform):
    script, base = await platform((503, {"Retry-After": "2"}), "drop")
    clock = FakeTime()
    async with PlatformClient(
        base, client_id="sim", client_secret="secret", retry=clock.policy()
    ) as client:
        assert (await client.get("/parking/lots"))["ok"] is True
    assert script.paths() == ["POST /accounts/auth/token"] * 3 + ["GET /parking/lots"]
    assert clock.waits == [2, 0.5]


async def test_the_default_policy_really_waits_what_retry_after_says(platform):
    script, base = await platform((429, {"Retry-After": "1"}))
    async with PlatformClient(base, token="t") as client:
        await client.get("/ops/alerts")
    (_, _, first), (_, _, second) = script.calls
    assert 1.0 <= second - first < 2.0
