"""Consumer-driven contracts: what each consumer declares it reads (`READS` in each service's
consumers, `ACCOUNTS_ID_TOKEN` for csms's REST read of accounts), checked against

- the producers' JSON Schemas: a field a consumer requires must be one every event of that
  version carries (in the schema's `required`), an optional one must exist in the schema;
- the events the producers really emit, and the fields the handlers really read, in a run of
  the embedded platform through a whole visit (accounts, parking, csms, billing, ops): every
  event carries what its consumers require, and no handler reads a field it did not declare.

So a producer that drops or renames a field a consumer reads fails here, before anything runs
together."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import pytest

from chargepark.events.contracts import ENVELOPE, Reads
from chargepark.events.inbox import Consumer
from chargepark.platform.config import SERVICES, load_settings
from chargepark.platform.runtime import Platform
from simulators.rest import PlatformClient
from simulators.scenario.model import builtin, load
from simulators.scenario.runner import ScenarioRunner
from tests.support import templates
from tests.support.procs import free_port

CLIENT = ("contract-test", "contract-test-secret-0123456789")


def declarations() -> dict[str, dict[str, Reads]]:
    from billing.consumers import READS as billing
    from csms.consumers import READS as csms
    from ops.consumers import READS as ops
    from parking.consumers import READS as parking

    return {"csms": csms, "parking": parking, "billing": billing, "ops": ops}


def schema(event: str, version: int) -> dict[str, Any] | None:
    path = files("chargepark.events.schemas") / f"{event}.v{version}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def every_declaration() -> Iterator[tuple[str, str, int, Reads]]:
    for consumer, reads in declarations().items():
        for event, declared in reads.items():
            for version in sorted(declared.versions):
                yield consumer, event, version, declared


CASES = list(every_declaration())


@pytest.mark.parametrize(
    ("consumer", "event", "version", "declared"),
    CASES,
    ids=[f"{c}-{e}-v{v}" for c, e, v, _ in CASES],
)
def test_every_declaration_fits_the_producers_schema(consumer, event, version, declared):
    found = schema(event, version)
    assert found is not None, f"{consumer} reads {event} v{version}: no producer's schema"
    properties, required = set(found["properties"]), set(found["required"])
    assert declared.required <= required, (
        f"{consumer} requires {sorted(declared.required - required)} of {event} v{version}, "
        "which its schema lets producers leave out"
    )
    assert declared.optional <= properties, (
        f"{consumer} reads {sorted(declared.optional - properties)} of {event} v{version}, "
        "which its schema does not have"
    )


class Recording(dict):
    """An event that notes which of its fields a handler reads."""

    def __init__(self, event: dict[str, Any]) -> None:
        super().__init__(event)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


async def test_a_visits_real_events_satisfy_every_consumer(tmp_path, monkeypatch):
    seen: list[tuple[str, dict[str, Any], set[str]]] = []
    deliver = Consumer.deliver

    async def recorded(self: Consumer[Any], event: dict[str, Any], attempt: int) -> None:
        recording = Recording(event)
        try:
            await deliver(self, recording, attempt)
        finally:
            seen.append((self.name, dict(event), recording.read))

    monkeypatch.setattr(Consumer, "deliver", recorded)
    env = {
        "CHARGEPARK_DATA_DIR": str(tmp_path),
        "CHARGEPARK_BOOTSTRAP_CLIENT_ID": CLIENT[0],
        "CHARGEPARK_BOOTSTRAP_CLIENT_SECRET": CLIENT[1],
        "CHARGEPARK_BILLING_JOB_INTERVAL": "1",
        "CHARGEPARK_BILLING_SETTLE_SEC": "1",
        "CHARGEPARK_LOG_LEVEL": "warning",
    }
    settings = load_settings(env, {"http_port": free_port(), "ocpp_port": free_port()})
    platform = Platform(settings, SERVICES)
    await templates.seed(settings)
    await platform.start()
    try:
        async with PlatformClient(
            platform.base_url, client_id=CLIENT[0], client_secret=CLIENT[1]
        ) as client:
            scenario = load(builtin("single-visit")).with_tag("K")
            ocpp = f"ws://{settings.host}:{settings.ocpp_port}{settings.ocpp_path}"
            runner = ScenarioRunner(
                scenario, client, ocpp, speed=2400, out=lambda _: None, invoice_wait=30
            )
            summary = await runner.run()
            assert summary.invoices, "the visit was invoiced"
            tokens = [c.id_token for c in scenario.cars if c.id_token]
            answer = await client.get(f"/accounts/id-tokens/{tokens[0]}") if tokens else None
    finally:
        await platform.stop()

    reads = declarations()
    consumed: dict[str, set[str]] = defaultdict(set)
    for consumer, event, read in seen:
        name = event["event"]
        declared = reads[consumer][name]
        consumed[consumer].add(name)
        missing = {f for f in declared.required if event.get(f) is None}
        assert not missing, (
            f"{name} from its producer lacks {sorted(missing)}, which {consumer} requires"
        )
        undeclared = read - declared.fields - ENVELOPE
        assert not undeclared, (
            f"{consumer} read {sorted(undeclared)} of {name} without declaring it"
        )
    # The run exercised every event type each consumer declares, except those no visit emits.
    # (SiteLoadReported, SmartChargingRefused: only a site under energy management emits them)
    not_in_a_visit = {"VehicleUnlinked", "SiteLoadReported", "SmartChargingRefused"}
    for consumer, declared in reads.items():
        assert set(declared) - not_in_a_visit <= consumed[consumer], (consumer, consumed[consumer])

    from csms.services.authorization import ACCOUNTS_ID_TOKEN as rest

    assert answer is not None, "the scenario's driver has an RFID card"
    assert rest.required <= set(answer), sorted(rest.required - set(answer))
    assert rest.optional <= set(answer), sorted(rest.optional - set(answer))
