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
from typing import Any

import pytest
import websockets

from chargepark.events.registry import validate_event
from tests.e2e.test_chargers import Csms, register, start_csms
from tests.e2e.test_session_rules import session_of
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
        cause = answer[4].get("cause", "") if answer[0] == 4 else ""
        if answer[0] != 4 or answer[2] != "PropertyConstraintViolation" or field not in cause:
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
        cause = answer[4].get("cause", "") if answer[0] == 4 else ""
        if answer[0] != 4 or answer[2] != "PropertyConstraintViolation" or field not in cause:
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
