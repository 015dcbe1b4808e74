"""The energy manager's events through the real in-process bus into ops on SQLite and on
PostgreSQL: the site's series read back over HTTP, and the built-in rules (shipped by ops'
migrations) raising "site over its limit", "charger draws more than its limit for more than a
minute" and the refusal incident, as the alert job evaluates them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from chargepark.events.inprocess import InProcessBus
from tests.conftest import FixedClock
from tests.support.ops import build_ops, refused, site_load

LIMIT = (32.0, 32.0, 32.0)


async def test_site_load_and_refusals_become_series_alerts_and_an_incident(any_db, aiohttp_client):
    # The built-in rules are as old as the migration: the clock starts after it.
    base = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    clock = FixedClock(base)
    ops = await build_ops(any_db, clock)
    assert ops.parts.consumer is not None
    bus = InProcessBus()
    await bus.subscribe("ops", ops.parts.consumer.event_types, ops.parts.consumer.deliver)
    await bus.start()

    def t(seconds: int) -> datetime:
        return base + timedelta(seconds=seconds)

    async def publish(event: dict[str, Any]) -> None:
        await bus.publish(event["event"], event["event_id"], json.dumps(event).encode())

    try:
        # Every 15 s for 2 minutes: CP-1 draws 20 A on a 16 A limit throughout; the site is
        # over its limit on L2 from 30 s to 60 s; CP-2 refuses its profiles twice.
        for second in range(0, 121, 15):
            drawn = (30.0, 36.0 if 30 <= second < 60 else 30.0, 28.0)
            cp1 = ("CP-1", 1, 16.0, 20.0)
            cp2 = ("CP-2", 1, 16.0, 10.0)
            last = site_load("A1", t(second), drawn, LIMIT, cp1, cp2)
            await publish(last)
        await publish(refused("A1", "CP-2", t(5), "SetChargingProfile: Rejected"))
        await publish(refused("A1", "CP-2", t(65), "SetChargingProfile: Rejected"))
        clock.at = t(121)
        assert await ops.alerts.evaluate_all() == 4  # site raised + resolved, charger, refusal

        client = await aiohttp_client(ops.parts.app)
        reader = ops.token("ops:read")
        answer = await client.get("/metrics/sites", headers=reader)
        assert answer.status == 200
        [now] = (await answer.json())["sites"]
        assert (now["site_id"], now["power_kw"], now["limit_kw"]) == ("A1", 20.24, 22.08)
        assert now["drawn_amps"] == [30.0, 30.0, 28.0] and now["over_limit"] is False
        assert [c["charger_id"] for c in now["chargers"]] == ["CP-1", "CP-2"]

        since = base.isoformat().replace("+00:00", "Z")
        answer = await client.get(
            "/metrics/sites/A1", params={"from": since, "bucket": "60"}, headers=reader
        )
        assert answer.status == 200
        series = await answer.json()
        first, second, third = series["buckets"][:3]
        assert [b["reports"] for b in (first, second, third)] == [4, 4, 1]
        assert first["drawn_amps"]["max"] == [30.0, 36.0, 28.0]
        assert first["power_kw"]["max"] == round(94 * 230 / 1000, 3)
        assert second["limit_amps"]["min"] == list(LIMIT)
        [cp1] = [c for c in series["chargers"] if c["charger_id"] == "CP-1"]
        assert cp1["buckets"][0]["drawn_amps"] == {"mean": 20.0, "max": 20.0}
        assert cp1["buckets"][0]["over_amps_max"] == 4.0
        missing = await client.get("/metrics/sites/B9", headers=reader)
        assert missing.status == 404
        assert (await client.get("/metrics/sites/A1")).status == 401
        exposition = await (await client.get("/metrics")).text()
        assert 'chargepark_site_power_kw{site_id="A1"} 20.24' in exposition
        assert 'chargepark_site_limit_kw{site_id="A1"} 22.08' in exposition

        answer = await client.get("/incidents", headers=reader)
        incidents = {(i["rule_kind"], i["subject"]): i for i in (await answer.json())["items"]}
        assert set(incidents) == {
            ("site_over_limit", "A1"),
            ("charger_over_limit", "CP-1/1"),
            ("smart_charging_refused", "CP-2"),
        }
        assert incidents[("site_over_limit", "A1")]["state"] == "resolved"
        assert incidents[("charger_over_limit", "CP-1/1")]["state"] == "open"
        refusal = incidents[("smart_charging_refused", "CP-2")]
        assert refusal["state"] == "open"
        assert "CP-2" in refusal["message"] and "site A1" in refusal["message"]
        assert "SetChargingProfile: Rejected" in refusal["message"]
        announced = [(e["event"], e["rule_kind"]) for e in await ops.outbox()]
        assert sorted(announced) == [
            ("AlertRaised", "charger_over_limit"),
            ("AlertRaised", "site_over_limit"),
            ("AlertRaised", "smart_charging_refused"),
            ("AlertResolved", "site_over_limit"),
        ]

        # A redelivered report and another refusal of the same charger change nothing.
        await publish(last)
        await publish(refused("A1", "CP-2", t(125), "SetChargingProfile: Rejected"))
        clock.at = t(130)
        assert await ops.alerts.evaluate_all() == 0
    finally:
        await bus.close()
