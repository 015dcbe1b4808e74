"""Webhook deliveries against the in-memory fakes: queued with each incident change when a URL
is configured, sent in order per incident, retried with exponential backoff, given up after the
configured attempts."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import pairwise

from ops.domain import RuleSpec
from tests.support.fakes.ops import FakeOps, FakeWebhookSender
from tests.support.ops import at, issued, status

URL = "http://receiver.example/hook"


async def test_without_a_url_nothing_is_queued(clock):
    fake = FakeOps()
    alerts = fake.alerts(clock)
    await alerts.create_rule(RuleSpec.of({"kind": "invoice_unpaid", "window_sec": 0}))
    await fake.feed(issued("inv-1", at(0), 100))
    clock.at = at(1)
    assert await alerts.evaluate_all() == 1
    assert fake.state.deliveries == {} and await alerts.deliver_due() == 0


async def test_changes_reach_the_receiver_once_and_in_order(clock):
    fake, sender = FakeOps(), FakeWebhookSender(up=False)
    alerts = fake.alerts(clock, webhook_url=URL, sender=sender)
    clock.at = at(0)
    await alerts.create_rule(RuleSpec.of({"kind": "charger_faulted", "window_sec": 60}))
    await fake.feed(status("CP-1", 1, "Faulted", at(0), "OverVoltage"))
    clock.at = at(2)
    assert await alerts.evaluate_all() == 1
    assert await alerts.deliver_due() == 0  # nobody listens
    await fake.feed(status("CP-1", 1, "Available", at(3)))
    clock.at = at(3)
    assert await alerts.evaluate_all() == 1
    assert await alerts.deliver_due() == 0  # the raise (tried again) goes first

    [incident] = await alerts.incidents(None, None, 10)
    raised, resolved = (await alerts.incident(incident["id"]))["deliveries"]
    assert (raised["state"], raised["attempts"], resolved["attempts"]) == ("pending", 2, 0)
    assert raised["last_error"].startswith("ClientConnectorError")

    sender.up = True
    clock.advance(seconds=9)  # the next retry is 10 s after the second failure
    assert await alerts.deliver_due() == 0 and sender.sent == []
    clock.advance(seconds=1)
    assert await alerts.deliver_due() == 2
    headers = [h["X-Chargepark-Event"] for _, _, h in sender.sent]
    assert headers == ["AlertRaised", "AlertResolved"]
    bodies = [json.loads(body) for _, body, _ in sender.sent]
    assert [b["incident_id"] for b in bodies] == [incident["id"]] * 2
    assert [b["event_id"] for b in bodies] == [h["X-Chargepark-Event-Id"] for *_, h in sender.sent]
    assert bodies[0]["message"].startswith("charger CP-1 faulted")
    clock.advance(minutes=30)
    assert await alerts.deliver_due() == 0 and len(sender.sent) == 2
    states = [d["state"] for d in (await alerts.incident(incident["id"]))["deliveries"]]
    assert states == ["delivered", "delivered"]


async def test_deliveries_back_off_and_give_up(clock):
    fake = FakeOps()
    alerts = fake.alerts(clock, webhook_url=URL, sender=FakeWebhookSender(up=False))
    clock.at = at(0)
    await alerts.create_rule(RuleSpec.of({"kind": "invoice_unpaid", "window_sec": 0}))
    await fake.feed(issued("inv-1", at(0), 100))
    clock.at = at(1)
    assert await alerts.evaluate_all() == 1
    [incident] = await alerts.incidents(None, None, 1)
    tried_at = []
    while True:
        tried_at.append(clock.at)
        assert await alerts.deliver_due() == 0
        [delivery] = (await alerts.incident(incident["id"]))["deliveries"]
        if delivery["next_attempt_at"] is None:
            break
        clock.at = fake.state.deliveries[1].next_attempt_at
    assert (delivery["state"], delivery["attempts"]) == ("failed", 5)
    assert [(b - a).total_seconds() for a, b in pairwise(tried_at)] == [5, 10, 20, 40]
    assert alerts.backoff(100) == timedelta(seconds=600)  # capped


async def test_closing_closes_the_sender(clock):
    sender = FakeWebhookSender()
    await FakeOps().alerts(clock, sender=sender).close()
    assert sender.closed
