"""One trace across services, in the embedded platform with an in-memory span exporter: a park
call -> VehicleParked -> billing's consumer; a charger's StopTransaction -> ChargingSessionClosed
-> billing's consumer, which files the session in the visit its invoice lines are priced from.
The billing job prices the visit later, in a trace of its own, and the session's invoice line
joins the StopTransaction's trace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import websockets
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.support.chargers import Charger, boot16
from tests.support.e2e_site import LOT, Site, call, running_site, ts


@pytest.fixture
async def traced(tmp_path, spans) -> AsyncIterator[Site]:
    events = ["VehicleParked", "ChargingSessionClosed", "InvoiceIssued"]
    async with running_site(tmp_path, events) as site:
        yield site


def trace_of(span: ReadableSpan) -> str:
    return f"{span.context.trace_id:032x}"


def the(spans: list[ReadableSpan], name: str, **attributes: Any) -> ReadableSpan:
    found = [
        s
        for s in spans
        if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items())
    ]
    assert len(found) == 1, (name, attributes, [s.name for s in spans])
    return found[0]


async def until_span(exporter: InMemorySpanExporter, name: str, **attributes: Any) -> None:
    async with asyncio.timeout(10):
        while True:
            for s in exporter.get_finished_spans():
                if s.name == name and all(s.attributes.get(k) == v for k, v in attributes.items()):
                    return
            await asyncio.sleep(0.05)


async def test_a_park_call_and_billings_consumer_of_its_event_share_one_trace(traced, spans, http):
    status, _, body = await call(http, traced, "POST", "/parking/lots", LOT)
    assert status == 201, body
    arrive = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    status, _, body = await call(
        http,
        traced,
        "POST",
        "/parking/lots/A1/park",
        {"regnum": "AB-123", "kind": "CAR", "fuel": "EV", "ts": ts(arrive)},
    )
    assert status in (200, 201), body
    [parked] = await traced.events_named("VehicleParked")
    await until_span(spans, "process VehicleParked", **{"messaging.consumer.group.name": "billing"})

    done = list(spans.get_finished_spans())
    park = the(done, "POST /parking/lots/{lot_id}/park")
    assert park.kind is SpanKind.SERVER
    assert park.attributes["http.route"] == "/parking/lots/{lot_id}/park"
    assert park.attributes["http.status_code"] == status
    publish = the(done, "publish VehicleParked")
    billing = the(done, "process VehicleParked", **{"messaging.consumer.group.name": "billing"})
    assert publish.kind is SpanKind.PRODUCER and billing.kind is SpanKind.CONSUMER
    # The event carries the park request's span; the relay and billing continue its trace.
    assert parked["traceparent"].split("-")[1:3] == [trace_of(park), f"{park.context.span_id:016x}"]
    assert trace_of(publish) == trace_of(billing) == trace_of(park)
    assert publish.parent.span_id == park.context.span_id
    assert billing.parent.span_id == publish.context.span_id
    assert billing.attributes["messaging.message.id"] == parked["event_id"]


async def test_a_stop_transaction_reaches_billing_in_the_same_trace(traced, spans, http):
    status, _, body = await call(http, traced, "POST", "/parking/lots", LOT)
    assert status == 201, body
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    start = end - timedelta(minutes=40)
    s = traced.platform.settings
    ws = await websockets.connect(
        f"ws://{s.host}:{s.ocpp_port}{s.ocpp_path}/CP-1", subprotocols=["ocpp1.6"]
    )
    cp = Charger(Client16("CP-1", ws), ws)
    await cp.call(boot16())
    started = await cp.call(
        call16.StartTransaction(connector_id=1, id_tag="RFID-1", meter_start=0, timestamp=ts(start))
    )
    await cp.call(
        call16.StopTransaction(
            meter_stop=14_300,
            timestamp=ts(start + timedelta(minutes=31)),
            transaction_id=started.transaction_id,
            reason="EVDisconnected",
        )
    )
    await cp.close()
    [closed] = await traced.events_named("ChargingSessionClosed")
    [issued] = await traced.events_named("InvoiceIssued", within=15)  # the job, later
    await until_span(
        spans, "process ChargingSessionClosed", **{"messaging.consumer.group.name": "billing"}
    )

    done = list(spans.get_finished_spans())
    stop = the(done, "ocpp StopTransaction")
    assert stop.kind is SpanKind.SERVER
    assert stop.attributes["ocpp.charger_id"] == "CP-1"
    assert stop.attributes["ocpp.action"] == "StopTransaction"
    assert stop.attributes["ocpp.version"] == "1.6"
    assert stop.attributes["ocpp.message_id"]
    billing = the(
        done, "process ChargingSessionClosed", **{"messaging.consumer.group.name": "billing"}
    )
    publish = the(done, "publish ChargingSessionClosed")
    assert closed["traceparent"].split("-")[1] == trace_of(stop)
    assert trace_of(publish) == trace_of(billing) == trace_of(stop)
    assert billing.parent.span_id == publish.context.span_id
    assert publish.parent.span_id == stop.context.span_id

    # The job prices the visit in a trace of its own; the invoice's event carries that one.
    job = the(done, "billing finalize visit", **{"billing.visit_id": issued["visit_id"]})
    assert job.parent is None
    assert issued["traceparent"].split("-")[1] == trace_of(job)
    # ... and the session's invoice line joins the trace that began at StopTransaction.
    line = the(done, "billing invoice line", **{"billing.session_id": closed["session_id"]})
    assert trace_of(line) == trace_of(stop)
    assert line.attributes["billing.line_kind"] == "CHARGING"
    assert line.attributes["billing.invoice_id"] == issued["invoice_id"]
    assert line.attributes["billing.amount_minor"] == 608  # 14.3 kWh x 39 + 50 (T_STD)

    # Every other OCPP message of the charger had its span as well, each a trace of its own.
    boots = [x for x in done if x.name == "ocpp BootNotification"]
    assert len(boots) == 1 and trace_of(boots[0]) != trace_of(stop)
