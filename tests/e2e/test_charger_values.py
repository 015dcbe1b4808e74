"""Values a charger may send that the protocol's schemas allow and our columns and events do not:
over real OCPP sockets to a running csms (SQLite and PostgreSQL), each gets its version's
constraint CALLERROR, nothing reaches a column or an event, nobody else waits, no traceback."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
import websockets
from sqlalchemy import select

from chargepark.events.registry import validate_event
from csms.adapters.tables import charger_notifications, meter_samples
from tests.support.chargers import Csms, register, session_of, start_csms
from tests.support.services import create_pg_database, drop_pg_database, pg_url, require_postgres

NOW = "2026-11-27T10:00:00Z"
BEYOND_INT64 = 2**64 + 1
INT32_MAX = 2**31 - 1
_ids = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
async def csms(request, tmp_path) -> AsyncIterator[Csms]:
    env = {"CHARGEPARK_OCPP_OFFLINE_AUTH": "accept"}
    database = None
    if request.param == "postgres":  # Integer is int32 there: the tighter of the two
        require_postgres()
        database = await create_pg_database()
        env["CHARGEPARK_CSMS_DATABASE_URL"] = pg_url(database)
    platform, csms = await start_csms(tmp_path, env=env)
    try:
        yield csms
    finally:
        await platform.stop()
        if database is not None:
            await drop_pg_database(database)


class Raw:
    """A charger that sends frames as written and reads the answers as they come."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, action: str, payload: dict[str, Any]) -> str:
        unique_id = f"m-{next(_ids)}"
        await self.ws.send(json.dumps([2, unique_id, action, payload]))
        return unique_id

    async def answer(self, unique_id: str) -> list[Any]:
        async with asyncio.timeout(5):
            while True:
                frame = json.loads(await self.ws.recv())
                if frame[1] == unique_id:
                    return frame

    async def call(self, action: str, payload: dict[str, Any]) -> list[Any]:
        return await self.answer(await self.send(action, payload))


async def raw(http, csms: Csms, charger_id: str, version: str) -> Raw:
    await register(http, csms, id=charger_id)
    ws = await websockets.connect(f"{csms.ocpp}/{charger_id}", subprotocols=[f"ocpp{version}"])
    return Raw(ws)


def event201(seq_no: int, event_type: str = "Updated", **extra: Any) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "timestamp": NOW,
        "triggerReason": "Authorized" if event_type == "Started" else "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": "TX-V", **extra.pop("info", {})},
        "evse": {"id": 1, "connectorId": 1},
        **extra,
    }


def refused(answer: list[Any], code: str, field: str, *, at_start: bool = False) -> bool:
    """`answer` is a CALLERROR `code` whose cause names `field` (first, with `at_start`)."""
    if answer[0] != 4 or answer[2] != code:
        return False
    cause = str(answer[4].get("cause", "")).removeprefix("$.")
    return cause.startswith(field) if at_start else field.removeprefix("$.") in cause


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        f"{r.levelname} {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info
    ]


@pytest.mark.parametrize("jump", [3_000_000, INT32_MAX])
async def test_v201_a_seq_no_jump_leaves_the_charger_and_the_others_answered_at_once(
    http, csms, caplog, jump
):
    cs = await raw(http, csms, "CS-J", "2.0.1")
    other = await raw(http, csms, "CS-O", "2.0.1")
    assert (await cs.call("TransactionEvent", event201(0, "Started")))[0] == 3
    jumped = asyncio.create_task(cs.answer(await cs.send("TransactionEvent", event201(jump))))
    waited = []  # the other charger's heartbeats, round trip, until the jump is answered
    while not jumped.done():
        started = time.perf_counter()
        assert (await other.call("Heartbeat", {}))[0] == 3
        waited.append(time.perf_counter() - started)
    assert (await jumped)[0] == 3
    assert max(waited) < 0.3, f"another charger waited {max(waited):.2f} s behind the jump"
    # One beyond what a seqNo can be (OCPP integers are 32 bit): refused, nothing stored.
    beyond = await cs.call("TransactionEvent", event201(INT32_MAX + 1))
    assert beyond[:3] == [4, beyond[1], "PropertyConstraintViolation"]
    assert beyond[4]["cause"].startswith("$.seqNo: ")
    assert (await cs.call("Heartbeat", {}))[0] == 3
    session = await session_of(http, csms, "CS-J")
    assert session["missing_seq_ranges"] == [[1, jump - 1]]
    assert session["missing_seq_nos"][:2] == [1, 2]
    assert no_tracebacks(caplog) == []


START16 = {"connectorId": 1, "idTag": "RFID-V", "meterStart": 0, "timestamp": NOW}
STOP16 = {"meterStop": 10, "timestamp": NOW, "transactionId": 1}
METER16 = {
    "connectorId": 1,
    "transactionId": 1,
    "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": "10"}]}],
}
STATUS16 = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
METER201 = {"evseId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": [{"value": 10}]}]}
STATUS201 = {"timestamp": NOW, "connectorStatus": "Available", "evseId": 1, "connectorId": 1}
BIG, NEG = BEYOND_INT64, -1
# (version, action, payload, the field named in the cause)
OUT_OF_RANGE: list[tuple[str, str, dict[str, Any], str]] = [
    ("1.6", "StartTransaction", {**START16, "connectorId": BIG}, "$.connectorId"),
    ("1.6", "StartTransaction", {**START16, "connectorId": NEG}, "$.connectorId"),
    ("1.6", "StartTransaction", {**START16, "meterStart": BIG}, "$.meterStart"),
    ("1.6", "StartTransaction", {**START16, "meterStart": NEG}, "$.meterStart"),
    ("1.6", "StartTransaction", {**START16, "meterStart": INT32_MAX + 1}, "$.meterStart"),
    ("1.6", "StartTransaction", {**START16, "reservationId": BIG}, "$.reservationId"),
    ("1.6", "StopTransaction", {**STOP16, "transactionId": BIG}, "$.transactionId"),
    ("1.6", "StopTransaction", {**STOP16, "meterStop": BIG}, "$.meterStop"),
    ("1.6", "StopTransaction", {**STOP16, "meterStop": NEG}, "$.meterStop"),
    ("1.6", "MeterValues", {**METER16, "connectorId": BIG}, "$.connectorId"),
    ("1.6", "MeterValues", {**METER16, "transactionId": BIG}, "$.transactionId"),
    ("1.6", "StatusNotification", {**STATUS16, "connectorId": BIG}, "$.connectorId"),
    ("1.6", "StatusNotification", {**STATUS16, "connectorId": NEG}, "$.connectorId"),
    ("2.0.1", "TransactionEvent", event201(0, evse={"id": BIG}), "$.evse.id"),
    ("2.0.1", "TransactionEvent", event201(0, evse={"id": NEG}), "$.evse.id"),
    ("2.0.1", "TransactionEvent", event201(0, evse={"id": 1, "connectorId": BIG}), "$.evse"),
    ("2.0.1", "TransactionEvent", event201(BIG), "$.seqNo"),
    ("2.0.1", "TransactionEvent", event201(NEG), "$.seqNo"),
    ("2.0.1", "TransactionEvent", event201(0, info={"remoteStartId": BIG}), "$.transaction"),
    ("2.0.1", "TransactionEvent", event201(0, numberOfPhasesUsed=BIG), "$.numberOfPhasesUsed"),
    ("2.0.1", "TransactionEvent", event201(0, reservationId=BIG), "$.reservationId"),
    ("2.0.1", "MeterValues", {**METER201, "evseId": BIG}, "$.evseId"),
    ("2.0.1", "MeterValues", {**METER201, "evseId": NEG}, "$.evseId"),
    ("2.0.1", "StatusNotification", {**STATUS201, "evseId": BIG}, "$.evseId"),
    ("2.0.1", "StatusNotification", {**STATUS201, "connectorId": BIG}, "$.connectorId"),
]


async def test_integers_beyond_what_we_store_get_the_versions_constraint_error(http, csms, caplog):
    chargers = {
        "1.6": await raw(http, csms, "CP-V", "1.6"),
        "2.0.1": await raw(http, csms, "CS-V", "2.0.1"),
    }
    wrong = []
    for version, action, payload, field in OUT_OF_RANGE:
        answer = await chargers[version].call(action, payload)
        if not refused(answer, "PropertyConstraintViolation", field):
            wrong.append((version, action, field, answer))
    assert wrong == []
    for charger in chargers.values():  # every connection still serves
        assert (await charger.call("Heartbeat", {}))[0] == 3
    async with http.get(csms.url("/sessions"), headers=csms.headers) as r:
        assert (await r.json())["total"] == 0  # nothing was stored
    assert no_tracebacks(caplog) == []


def sampled(value: Any, version: str) -> list[dict[str, Any]]:
    sample = {"value": value} if version == "2.0.1" else {"value": value, "unit": "Wh"}
    return [{"timestamp": NOW, "sampledValue": [sample]}]


# (version, action, payload, the field named in the cause)
UNSTORABLE_READINGS: list[tuple[str, str, dict[str, Any], str]] = [
    *[
        ("2.0.1", "MeterValues", {"evseId": 1, "meterValue": sampled(v, "2.0.1")}, "$.meterValue")
        for v in (1e308, -1e308, float("nan"), float("inf"), 10**13)
    ],
    (
        "2.0.1",
        "TransactionEvent",
        event201(0, "Started", meterValue=sampled(1e308, "2.0.1")),
        "$.meterValue",
    ),
    *[
        ("1.6", "MeterValues", {"connectorId": 1, "meterValue": sampled(v, "1.6")}, "$.meterValue")
        for v in ("1e308", "NaN", "Infinity", "-1e13")
    ],
    (
        "1.6",
        "StopTransaction",
        {**STOP16, "transactionData": sampled("1e308", "1.6")},
        "$.transactionData",
    ),
]


async def test_readings_beyond_what_consumers_store_are_refused_and_never_become_events(
    http, csms, caplog
):
    telemetry: list[dict[str, Any]] = []
    told = asyncio.Event()

    async def record(event: dict[str, Any], attempt: int) -> None:
        telemetry.append(event)
        told.set()

    await csms.bus.subscribe("test-telemetry", ["MeterTelemetry"], record)
    chargers = {
        "1.6": await raw(http, csms, "CP-M", "1.6"),
        "2.0.1": await raw(http, csms, "CS-M", "2.0.1"),
    }
    wrong = []
    for version, action, payload, field in UNSTORABLE_READINGS:
        answer = await chargers[version].call(action, payload)
        if not refused(answer, "PropertyConstraintViolation", field):
            wrong.append((version, action, payload, answer))
    assert wrong == []
    # The largest reading there is still goes through, and is stored (bigint on PostgreSQL).
    largest = 10**12
    started = await chargers["2.0.1"].call(
        "TransactionEvent", event201(0, "Started", meterValue=sampled(largest - 5, "2.0.1"))
    )
    assert started[0] == 3
    ended = event201(1, "Ended", meterValue=sampled(largest, "2.0.1"))
    assert (await chargers["2.0.1"].call("TransactionEvent", ended))[0] == 3
    session = await session_of(http, csms, "CS-M")
    assert (session["meter_start_wh"], session["energy_wh"]) == (largest - 5, 5)
    async with asyncio.timeout(5):
        await told.wait()
    for event in telemetry:
        validate_event(event)
        assert all(r["energy_wh"] in (None, largest - 5, largest) for r in event["readings"])
    assert no_tracebacks(caplog) == []


UNREADABLE_TIMES = ["2024-13-45T99:99:99Z", "not a date", "", "2026-11-27T10:00:00"]  # no zone


def with_time(version: str, action: str, field: str, ts: str) -> dict[str, Any]:
    """A valid payload of `action` whose `field` (a timestamp) is `ts`."""
    if version == "1.6":
        base = {"StartTransaction": START16, "StopTransaction": STOP16, "MeterValues": METER16}
        base["StatusNotification"] = {**STATUS16, "timestamp": NOW}
    else:
        base = {"TransactionEvent": event201(0, "Started"), "MeterValues": METER201}
        base["StatusNotification"] = STATUS201
    payload = json.loads(json.dumps(base[action]))
    if field == "timestamp":
        payload["timestamp"] = ts
    else:  # meterValue / transactionData
        payload[field] = [{"timestamp": ts, "sampledValue": [{"value": 10}]}]
        if version == "1.6":
            payload[field][0]["sampledValue"][0]["value"] = "10"
    return payload


TIMED_FIELDS = [
    ("1.6", "StartTransaction", "timestamp"),
    ("1.6", "StopTransaction", "timestamp"),
    ("1.6", "StopTransaction", "transactionData"),
    ("1.6", "StatusNotification", "timestamp"),
    ("1.6", "MeterValues", "meterValue"),
    ("2.0.1", "TransactionEvent", "timestamp"),
    ("2.0.1", "TransactionEvent", "meterValue"),
    ("2.0.1", "StatusNotification", "timestamp"),
    ("2.0.1", "MeterValues", "meterValue"),
]


async def test_an_unreadable_charger_time_is_a_format_violation_naming_the_field(
    http, csms, caplog
):
    chargers = {
        "1.6": await raw(http, csms, "CP-T", "1.6"),
        "2.0.1": await raw(http, csms, "CS-T", "2.0.1"),
    }
    code = {"1.6": "FormationViolation", "2.0.1": "FormatViolation"}
    wrong = []
    for (version, action, field), ts in itertools.product(TIMED_FIELDS, UNREADABLE_TIMES):
        answer = await chargers[version].call(action, with_time(version, action, field, ts))
        if not refused(answer, code[version], field, at_start=True):
            wrong.append((version, action, field, ts, answer))
    assert wrong == []
    async with http.get(csms.url("/sessions"), headers=csms.headers) as r:
        assert (await r.json())["total"] == 0  # no session started at our time instead
    assert await stored(csms, meter_samples) == []
    assert no_tracebacks(caplog) == []


async def stored(csms: Csms, table: Any, charger_id: str | None = None) -> list[Any]:
    query = (
        select(table)
        if charger_id is None
        else select(table).where(table.c.charger_id == charger_id)
    )
    async with csms.platform.hosts[0].db.engine.connect() as conn:
        return list((await conn.execute(query.order_by(table.c.id))).all())


@pytest.mark.parametrize("stamp", ["2100-01-01T00:00:00Z", "1970-01-01T00:00:00Z"])
async def test_a_charger_time_far_from_ours_is_replaced_by_ours_and_noted_once(
    http, csms, caplog, stamp
):
    caplog.set_level(logging.WARNING, logger="csms.ocpp")
    cp = await raw(http, csms, f"CP-K{next(_ids)}", "1.6")  # noted once per id and hour
    cs = await raw(http, csms, f"CS-K{next(_ids)}", "2.0.1")
    before = datetime.now(UTC)
    start = {**START16, "timestamp": stamp}
    started = await cp.call("StartTransaction", start)
    # The charger lost the answer and sends the same start again: the same transaction.
    assert (await cp.call("StartTransaction", start))[2] == started[2]
    assert (await cs.call("TransactionEvent", {**event201(0, "Started"), "timestamp": stamp}))[0]
    for charger in (cp, cs):  # kept before the charger's next message is read
        assert (await charger.call("Heartbeat", {}))[0] == 3
    after = datetime.now(UTC)
    async with http.get(csms.url("/sessions"), headers=csms.headers) as r:
        sessions = (await r.json())["items"]
    assert len(sessions) == 2
    for session in sessions:
        assert before <= datetime.fromisoformat(session["started_at"]) <= after
    skews = [r for r in caplog.records if r.getMessage().startswith("charger clock skewed")]
    assert sorted(r.charger_id for r in skews) == sorted([cp_id(cp), cp_id(cs)])  # once each
    notes = [r for r in await stored(csms, charger_notifications) if r.action == "ClockSkew"]
    assert len(notes) == 2
    assert all(json.loads(n.payload)["charger_time"] == stamp for n in notes)
    assert no_tracebacks(caplog) == []


def cp_id(charger: Raw) -> str:
    return charger.ws.request.path.rsplit("/", 1)[1]


# Escaped as JSON spells them: "\u0000" and a lone "\ud800" are valid JSON text.
UNSOUND_TEXT = [
    ("1.6", "Authorize", '{"idTag": "TAG\\u0000"}', "$.idTag"),
    ("1.6", "Authorize", '{"idTag": "a\\udfffb"}', "$.idTag"),
    (
        "1.6",
        "StartTransaction",
        '{"connectorId": 1, "idTag": "\\ud800", "meterStart": 0, "timestamp": "' + NOW + '"}',
        "$.idTag",
    ),
    (
        "1.6",
        "StatusNotification",
        '{"connectorId": 1, "errorCode": "OtherError", "status": "Faulted", '
        '"vendorErrorCode": "E\\u0000"}',
        "$.vendorErrorCode",
    ),
    (
        "2.0.1",
        "BootNotification",
        '{"reason": "PowerUp", "chargingStation": {"model": "\\udc00\\ud800", "vendorName": "V"}}',
        "$.chargingStation.model",
    ),
    (
        "2.0.1",
        "Authorize",
        '{"idToken": {"idToken": "\\u0000", "type": "ISO14443"}}',
        "$.idToken.idToken",
    ),
]


async def test_nul_and_lone_surrogates_are_refused_before_any_handler(http, csms, caplog):
    chargers = {
        "1.6": await raw(http, csms, "CP-U", "1.6"),
        "2.0.1": await raw(http, csms, "CS-U", "2.0.1"),
    }
    wrong = []
    for version, action, payload, field in UNSOUND_TEXT:
        unique_id = f"u-{next(_ids)}"
        await chargers[version].ws.send(f'[2, "{unique_id}", "{action}", {payload}]')
        answer = await chargers[version].answer(unique_id)
        if not refused(answer, "PropertyConstraintViolation", field):
            wrong.append((version, action, answer))
    assert wrong == []
    for charger in chargers.values():  # every connection still serves
        assert (await charger.call("Heartbeat", {}))[0] == 3
    # An emoji escaped as its surrogate pair is sound text, and a backslash before "u" is no escape.
    sound = '{"idTag": "\\ud83d\\udd0c\\\\u0000"}'
    await chargers["1.6"].ws.send(f'[2, "sound-1", "Authorize", {sound}]')
    assert (await chargers["1.6"].answer("sound-1"))[0] == 3
    async with http.get(csms.url("/sessions"), headers=csms.headers) as r:
        assert (await r.json())["total"] == 0
    assert no_tracebacks(caplog) == []
