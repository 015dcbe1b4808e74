"""Tracing's pieces: what the OTEL_* variables decide, the envelope's traceparent (also on
parking's one-statement path on PostgreSQL), the HTTP server span and the header between
services, the relay's PRODUCER and the consumer's CONSUMER span, a request between nodes over
NATS, ops' alert webhooks, the JWKS fetch, and nothing at all when off."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from opentelemetry.trace import SpanKind
from sqlalchemy import MetaData, select, text

from chargepark import tracing
from chargepark.auth import InvalidToken, RemoteJwks
from chargepark.db.tables import kernel_tables
from chargepark.db.uow import UnitOfWork
from chargepark.errors import ConfigError
from chargepark.events.envelope import envelope
from chargepark.events.inbox import Consumer
from chargepark.events.inprocess import InProcessBus
from chargepark.events.nats import NatsBus
from chargepark.events.outbox import OutboxRelay
from chargepark.events.registry import validate_event
from chargepark.http.client import ServiceClient
from chargepark.http.tracing import tracing_middleware
from chargepark.logging import JsonFormatter
from ops.adapters.webhook import HttpWebhookSender as WebhookSender
from tests.conftest import FixedClock
from tests.contract.conftest import delete_stream
from tests.support.bus import started
from tests.support.services import NATS_URL, require_nats, unique_name
from tests.support.spans import hex_trace

# --- the environment decides ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, []),
        ({"OTEL_SERVICE_NAME": "x"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console, otlp"}, ["console", "otlp"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
            ["otlp"],
        ),
    ],
)
def test_tracing_is_off_unless_the_environment_asks_for_it(env, wanted):
    assert tracing.exporters_wanted(env) == wanted


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
    ],
)
def test_what_cannot_be_exported_is_a_config_error_naming_the_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        tracing.exporters_wanted(env)


def test_off_configure_installs_nothing():
    assert tracing.configure("chargepark", {}) is False
    assert tracing.enabled is False


# --- the envelope ----------------------------------------------------------------------------


def test_without_tracing_an_event_has_no_trace_fields():
    doc = envelope("CustomerCreated", {"ts": "2026-11-27T09:00:00Z", "customer_id": "c-1"})
    assert "traceparent" not in doc and "tracestate" not in doc


def test_an_event_emitted_inside_a_span_carries_its_traceparent(spans):
    with tracing.span("work") as span:
        doc = envelope("CustomerCreated", {"ts": "2026-11-27T09:00:00Z", "customer_id": "c-1"})
    ctx = span.get_span_context()
    assert doc["traceparent"] == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
    validate_event(doc)  # every schema declares the optional field
    doc["traceparent"] = "not-a-traceparent"
    with pytest.raises(Exception, match="traceparent"):
        validate_event(doc)
    assert tracing.traceparent_in_payload(json.dumps({"a": '"traceparent":"x"'})) is None


@pytest.mark.postgres
async def test_parkings_one_statement_path_writes_the_traceparent_too(spans, postgres_db):
    from parking.domain import Fuel, VehicleKind
    from parking.repository import SqlParkingUnitOfWork
    from parking.service import LeaveLot, ParkingService, ParkVehicle
    from parking.single_statement import SingleStatementParking
    from parking.store import kernel
    from tests.support import templates
    from tests.support.parking import a_lot

    await templates.migrated("parking", postgres_db)
    clock = FixedClock()
    units = lambda: SqlParkingUnitOfWork(postgres_db, kernel.outbox, clock, lambda: None)  # noqa: E731
    parking = ParkingService(
        units, clock, SingleStatementParking(postgres_db, kernel.outbox, lambda: None)
    )
    await parking.create_lot(a_lot("S"))
    with tracing.span("park and leave") as span:
        earlier = clock.at - timedelta(minutes=5)
        await parking.park(
            ParkVehicle(lot_id="S", regnum="EV1", kind=VehicleKind.CAR, fuel=Fuel.EV, ts=earlier)
        )
        await parking.leave(LeaveLot("S", regnum="EV1", ts=clock.at))
    async with postgres_db.engine.connect() as conn:
        payloads = (
            await conn.execute(
                select(kernel.outbox.c.payload)
                .where(kernel.outbox.c.event_type != "LotBaysChanged")  # the stays only
                .order_by(kernel.outbox.c.id)
            )
        ).scalars()
        events = [json.loads(p) for p in payloads]
    ctx = span.get_span_context()
    assert [e["event"] for e in events] == ["VehicleParked", "VehicleLeft"]
    for event in events:
        validate_event(event)
        assert (
            event["traceparent"]
            == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
        )
    # Each single statement is a CLIENT span of its own, below the caller's.
    statements = [
        s
        for s in spans.get_finished_spans()
        if s.attributes.get("db.system") == "postgresql"
        and s.attributes["db.operation"] in ("park", "leave")
    ]
    assert [s.attributes["db.operation"] for s in statements] == ["park", "leave"]
    for statement in statements:
        assert statement.kind == SpanKind.CLIENT
        assert statement.parent.span_id == ctx.span_id
        assert statement.attributes["db.statement"].startswith("WITH c AS (")


async def test_sqlalchemys_statements_are_client_spans_with_their_text_not_their_values(
    spans, tmp_path
):
    from chargepark.db.engine import Database

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}")  # made while tracing is on
    try:
        with tracing.span("a request") as outer:
            async with db.engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (secret TEXT)"))
                await conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": "s3cret-value"})
            with pytest.raises(Exception, match="no such table"):
                async with db.engine.connect() as conn:
                    await conn.execute(text("SELECT * FROM missing"))
    finally:
        await db.dispose()
    found = [s for s in spans.get_finished_spans() if s.attributes.get("db.system") == "sqlite"]
    by_op = {s.attributes["db.operation"]: s for s in found}
    assert {"CREATE", "INSERT", "SELECT"} <= set(by_op)
    insert_span = by_op["INSERT"]
    assert insert_span.name == "INSERT sqlite" and insert_span.kind == SpanKind.CLIENT
    assert insert_span.parent.span_id == outer.get_span_context().span_id
    assert insert_span.attributes["db.statement"] == "INSERT INTO t VALUES (?)"
    assert all("s3cret" not in str(s.attributes) for s in found)
    assert by_op["SELECT"].status.status_code.name == "ERROR"


async def test_off_an_engine_gets_no_statement_listeners(tmp_path, spans):
    from chargepark.db.engine import Database

    traced = Database(f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}")
    tracing.uninstall()
    plain = Database(f"sqlite+aiosqlite:///{tmp_path / 'plain.db'}")
    try:
        assert traced.engine.sync_engine.dispatch.before_cursor_execute
        assert not plain.engine.sync_engine.dispatch.before_cursor_execute
    finally:
        await traced.dispose()
        await plain.dispose()


def test_a_log_line_written_inside_a_span_names_it(spans):
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tests.tracing")
    logger.addHandler(keep := Keep())
    try:
        logger.warning("outside")
        with tracing.span("work") as span:
            logger.warning("inside")
    finally:
        logger.removeHandler(keep)
    ctx = span.get_span_context()
    line = json.loads(JsonFormatter().format(records[1]))
    assert (line["trace_id"], line["span_id"]) == (f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}")
    assert "trace_id" not in json.loads(JsonFormatter().format(records[0]))


# --- HTTP in and out --------------------------------------------------------------------------


async def test_a_request_is_a_server_span_named_by_its_route_and_calls_carry_the_header(
    spans, aiohttp_client
):
    seen: list[str | None] = []
    clients: list[ServiceClient] = []

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": "t", "expires_in": 3600})

    async def leaf(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent"))
        return web.json_response({"id": request.match_info["id"]})

    async def front(request: web.Request) -> web.Response:
        client = clients[0]
        status, body = await client.get_json(f"/things/{request.match_info['id']}?x=1")
        return web.json_response({"status": status, "body": body})

    app = web.Application(middlewares=[tracing_middleware("test")])
    app.router.add_post("/token", token)
    app.router.add_get("/things/{id}", leaf)
    app.router.add_get("/front/{id}", front)
    http = await aiohttp_client(app)
    base = str(http.make_url("")).rstrip("/")
    clients.append(ServiceClient(base, base + "/token", "me", "secret"))
    try:
        r = await http.get("/front/7")
        assert r.status == 200 and (await r.json())["body"] == {"id": "7"}
    finally:
        await clients[0].close()

    done = spans.get_finished_spans()
    by_name = {s.name: s for s in done}
    outer, inner = by_name["GET /front/{id}"], by_name["GET /things/{id}"]
    call = next(s for s in done if s.kind is SpanKind.CLIENT and s.name == "GET")
    assert outer.kind is SpanKind.SERVER and outer.attributes["http.route"] == "/front/{id}"
    assert outer.attributes["http.status_code"] == 200
    assert call.attributes["url.full"] == base + "/things/7"  # no query
    # front -> its outgoing call -> the leaf's server span: one trace, parent by parent
    assert len({hex_trace(s) for s in done}) == 1
    assert call.parent.span_id == outer.context.span_id
    assert inner.parent.span_id == call.context.span_id
    assert seen == [
        f"00-{hex_trace(outer)}-{call.context.span_id:016x}-{call.context.trace_flags:02x}"
    ]


# --- events through the relay and a consumer ---------------------------------------------------


async def test_the_relays_publish_and_the_consumers_process_continue_the_emitters_trace(
    spans, sqlite_db
):
    metadata = MetaData()
    kernel = kernel_tables(metadata)
    async with sqlite_db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    bus = InProcessBus()
    relay = OutboxRelay("test", sqlite_db, kernel.outbox, bus)
    applied: list[dict[str, Any]] = []

    async def handler(event: dict[str, Any], uow: UnitOfWork) -> None:
        applied.append(event)

    clock = FixedClock()
    units = lambda: UnitOfWork(sqlite_db, kernel.outbox, clock, relay.notify)  # noqa: E731
    consumer = Consumer(
        "c", units, kernel.inbox, kernel.dead_letters, {"CustomerCreated": handler}, **_reads()
    )
    await bus.subscribe("c", consumer.event_types, consumer.deliver)
    await bus.start()

    with tracing.span("request") as request_span:
        async with units() as uow:
            uow.emit(
                envelope("CustomerCreated", {"ts": "2026-11-27T09:00:00Z", "customer_id": "c"})
            )
            await uow.commit()
    assert await relay.run_once() == 1
    await bus.close()

    assert len(applied) == 1
    done = {s.name: s for s in spans.get_finished_spans()}
    publish, process = done["publish CustomerCreated"], done["process CustomerCreated"]
    assert publish.kind is SpanKind.PRODUCER and process.kind is SpanKind.CONSUMER
    assert publish.parent.span_id == request_span.get_span_context().span_id
    assert process.parent.span_id == publish.context.span_id
    assert (
        hex_trace(publish)
        == hex_trace(process)
        == f"{request_span.get_span_context().trace_id:032x}"
    )
    assert process.attributes["messaging.consumer.group.name"] == "c"
    assert process.attributes["messaging.message.id"] == applied[0]["event_id"]


def _reads() -> dict[str, Any]:
    # Consumers declare what they read (chargepark.events.contracts) where that exists.
    import inspect

    if "reads" not in inspect.signature(Consumer.__init__).parameters:
        return {}
    from chargepark.events.contracts import reads

    return {"reads": {"CustomerCreated": reads(["customer_id"])}}


@pytest.mark.nats
async def test_a_request_over_nats_is_a_client_span_and_its_answer_a_server_span_below_it(spans):
    require_nats()
    stream = unique_name("TRACE").upper()
    bus = NatsBus(NATS_URL, stream=stream, subject_prefix=stream.lower())
    seen: list[str] = []

    async def responder(data: bytes) -> bytes:
        seen.append(tracing.current_trace_context().get("traceparent", ""))
        return data

    try:
        await bus.serve("csms.commands.node-b", responder)
        await started(bus)
        with tracing.span("operator asks"):
            assert await bus.request("csms.commands.node-b", b"x", 5.0) == b"x"
    finally:
        await bus.close()
        await delete_stream(NATS_URL, stream)
    by_name = {s.name: s for s in spans.get_finished_spans()}
    asked = by_name["operator asks"]
    client = by_name["csms.commands.node-b request"]
    server = by_name["csms.commands.node-b process"]
    assert (client.kind, server.kind) == (SpanKind.CLIENT, SpanKind.SERVER)
    assert client.parent.span_id == asked.context.span_id
    assert server.parent.span_id == client.context.span_id
    assert {hex_trace(s) for s in (asked, client, server)} == {hex_trace(asked)}
    [inside] = seen  # the responder runs inside the SERVER span
    assert inside.startswith(f"00-{hex_trace(server)}-{server.context.span_id:016x}-")


async def test_an_alert_webhook_is_a_client_span_whose_traceparent_the_receiver_gets(
    spans, aiohttp_server
):
    received: list[str] = []

    async def receiver(request: web.Request) -> web.Response:
        received.append(request.headers.get("traceparent", ""))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", receiver)
    server = await aiohttp_server(app)
    sender = WebhookSender()
    try:
        ok, _ = await sender.send(str(server.make_url("/hook?key=secret")), "{}", {})
    finally:
        await sender.close()
    assert ok
    [post] = [s for s in spans.get_finished_spans() if s.name == "POST"]
    assert post.kind == SpanKind.CLIENT
    assert post.attributes["url.full"] == str(server.make_url("/hook"))
    assert post.attributes["http.status_code"] == 204
    [parent] = received
    assert parent.startswith(f"00-{hex_trace(post)}-{post.context.span_id:016x}-")


async def test_a_jwks_fetch_is_a_client_span_too(spans, aiohttp_server):
    received: list[str] = []

    async def jwks(request: web.Request) -> web.Response:
        received.append(request.headers.get("traceparent", ""))
        return web.json_response({"keys": []})

    app = web.Application()
    app.router.add_get("/jwks.json", jwks)
    server = await aiohttp_server(app)
    with pytest.raises(InvalidToken):  # no keys at all: nothing can be verified
        await RemoteJwks(str(server.make_url("/jwks.json"))).key_for("k1")
    [fetch] = [s for s in spans.get_finished_spans() if s.name == "GET"]
    assert (fetch.kind, fetch.attributes["url.full"]) == (
        SpanKind.CLIENT,
        str(server.make_url("/jwks.json")),
    )
    assert received[0].startswith(f"00-{hex_trace(fetch)}-")
