"""The simulators' REST client through the real gateway (nginx, deploy/nginx/nginx.conf.template):
a burst far past the per-token rate limit (20 requests/s, burst 40) is answered 429 with
`Retry-After: 1` for most of it; the client waits what the gateway says and every call gets
through, each reaching the service exactly once (as busy-evening's 200 cars need)."""

from __future__ import annotations

import asyncio
import time

from simulators.rest import PlatformClient
from simulators.retry import RetryPolicy
from tests.support.gateway import _token

CALLS = 80


async def test_a_burst_past_the_gateways_rate_limit_is_ridden_out_after_retry_after(
    gateway,
    stubs,
):
    token = await _token(gateway, scope="ops:read")
    async with PlatformClient(gateway.base_url, token=token) as warm:
        # The gateway caches accounts' verdict on the token for 5 s: the burst is then about
        # the rate limit, not about how fast accounts checks 80 tokens at once.
        await warm.get("/ops/alerts")
    before = len(stubs["ops"].seen)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(seconds)

    started = time.monotonic()
    async with PlatformClient(
        gateway.base_url, token=token, retry=RetryPolicy(deadline=30, sleep=sleep)
    ) as client:
        answers = await asyncio.gather(*(client.get("/ops/alerts") for _ in range(CALLS)))
    took = time.monotonic() - started

    assert all(a["service"] == "ops" for a in answers)
    assert len(stubs["ops"].seen) - before == CALLS  # a refused call never reached ops
    refused = client.stats.retries["HTTP 429"]
    assert refused >= CALLS - 40, client.stats.retries  # burst 40, less the warm-up
    # Under such a burst the gateway may also find accounts slow to check a token: 503 with
    # Retry-After 5 (docs/gateway.md), ridden out the same way.
    assert set(client.stats.retries) <= {"HTTP 429", "HTTP 503"}, client.stats.retries
    assert client.stats.gave_up == 0
    assert len(waits) == client.stats.total
    assert min(waits) >= 1.0  # never sooner than the gateway's Retry-After
    # The bucket refills at 20/s: what passed beyond the burst took at least that long.
    assert took >= (CALLS - 39) / 20 * 0.8
    await asyncio.sleep(2.5)  # the bucket drains for whatever runs next
