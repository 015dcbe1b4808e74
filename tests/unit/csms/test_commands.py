"""CSMS -> charger commands: the catalog's checks, and every way the local port and the command
log end a command, with a scripted ChargePoint in place of a socket."""

from __future__ import annotations

import asyncio
import decimal
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from ocpp.exceptions import NotSupportedError, UnknownCallErrorCodeError
from ocpp.messages import MessageType, get_validator
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from websockets.exceptions import ConnectionClosedOK

from csms.adapters.presence import Presence
from csms.adapters.recorded_commands import RecordedCommandPort
from csms.ocpp.gateway.catalog import COMMANDS, InvalidCommand, build_request, wire_payload
from csms.ocpp.gateway.local import LocalCommandPort
from csms.ports.gateway import CallErrorReply, CommandOutcome, CommandStatus
from tests.conftest import T0, FixedClock

MATRIX = Path(__file__).resolve().parents[3] / "docs" / "ocpp-support.md"


class FakeConnection:
    def __init__(self) -> None:
        self.closed = asyncio.Event()

    async def wait_closed(self) -> None:
        await self.closed.wait()


class ScriptedChargePoint:
    """Answers each call with the next scripted answer: a result object, an exception to
    raise, or a coroutine function to await. Counts calls in flight."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[Any] = []
        self.in_flight = self.most_in_flight = 0

    async def call(self, request: Any, suppress: bool = True, **kwargs: Any) -> Any:
        # CALLERRORs must raise, and the answer must not be checked by the library (it raises
        # the same exceptions for a bad answer as for a CALLERROR).
        assert suppress is False and kwargs == {"skip_schema_validation": True}
        self.calls.append(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            answer = self.answers.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            if callable(answer):
                return await answer()
            return answer
        finally:
            self.in_flight -= 1


def never() -> Any:
    return asyncio.Event().wait


def connected(
    charge_point: Any, version: str = "ocpp1.6"
) -> tuple[LocalCommandPort, FakeConnection]:
    presence = Presence()
    connection = FakeConnection()
    presence.connected("CP-1", connection, version, T0)
    presence.attach("CP-1", connection, charge_point)
    return LocalCommandPort(presence), connection


# -- the catalog --


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_every_command_has_the_librarys_request_result_and_schemas(version):
    request, result = {"1.6": (call16, result16), "2.0.1": (call201, result201)}[version]
    # The library caches one validator per schema, built with the first caller's float
    # parser: its 1.6 charging profile schemas must be read with Decimal, as it reads them.
    floats = decimal.Decimal if version == "1.6" else float
    for action in COMMANDS[version]:
        get_validator(MessageType.Call, action, version, parse_float=floats)
        get_validator(MessageType.CallResult, action, version, parse_float=floats)
        assert hasattr(request, action) and hasattr(result, action)


@pytest.mark.parametrize(
    ("version", "action", "payload"),
    [
        ("1.6", "Reset", {"type": "Hard"}),
        ("1.6", "GetConfiguration", {}),
        ("1.6", "DataTransfer", {"vendorId": "ACME", "data": "x_y"}),
        (
            "2.0.1",
            "DataTransfer",
            {"vendorId": "ACME", "data": {"temperatureC": 4, "list": [{"deepKey": True}]}},
        ),
        (
            "2.0.1",
            "GetVariables",
            {
                "getVariableData": [
                    {
                        "component": {"name": "EVSE", "evse": {"id": 1, "connectorId": 2}},
                        "variable": {"name": "AvailabilityState"},
                        "attributeType": "Actual",
                    }
                ]
            },
        ),
        ("1.6", "RemoteStopTransaction", {"transactionId": 4}),
    ],
)
def test_a_valid_request_goes_out_exactly_as_asked(version, action, payload):
    assert wire_payload(build_request(version, action, payload)) == payload


def test_a_1_6_remote_start_takes_profile_limits_with_one_decimal():
    # Binary floats fail multipleOf 0.1 (21.4 / 0.1 is not whole); the spec's schema means it.
    profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
        },
    }
    payload = {"idTag": "RFID-1", "chargingProfile": profile}
    assert wire_payload(build_request("1.6", "RemoteStartTransaction", payload)) == payload


@pytest.mark.parametrize(
    ("version", "action", "payload", "says"),
    [
        ("1.6", "Reset", {"type": "Later"}, "body.type: 'Later' is not one of"),
        ("1.6", "Reset", {}, "body: 'type' is a required property"),
        ("1.6", "UnlockConnector", {"connectorId": "1"}, "body.connectorId: '1' is not of type"),
        ("2.0.1", "SetVariables", {"setVariableData": []}, "body.setVariableData: [] "),
        ("1.6", "GetVariables", {}, "these are: Reset, UnlockConnector"),
        ("2.0.1", "SendLocalList", {}, "not a command for an OCPP 2.0.1 charger"),
        ("1.6", "Reset", ["Hard"], "the body must be a JSON object"),
        ("2.1", "Reset", {}, "no commands to OCPP 2.1 chargers"),
        # Keys the library's snake_case -> camelCase pass would respell, and nulls it drops.
        ("2.0.1", "DataTransfer", {"vendorId": "V", "data": {"fan_speed": 1}}, "body.data"),
        ("2.0.1", "DataTransfer", {"vendorId": "V", "data": {"socket": 1}}, "body.data"),
        ("2.0.1", "DataTransfer", {"vendorId": "V", "data": {"a": None}}, "body.data"),
    ],
)
def test_an_invalid_request_is_refused_saying_where(version, action, payload, says):
    with pytest.raises(InvalidCommand) as refused:
        build_request(version, action, payload)
    assert says in refused.value.detail


def test_the_support_matrix_lists_exactly_the_commands_csms_sends():
    rows = {}
    for line in MATRIX.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and re.fullmatch(r"[A-Z][A-Za-z]+", cells[0]):
            rows[cells[0]] = cells[1:]
    for column, version in enumerate(("1.6", "2.0.1")):
        assert {a for a, cells in rows.items() if cells[column] == "yes"} == set(COMMANDS[version])


# -- the local port --


async def test_a_charger_without_a_socket_here_is_offline_and_nothing_is_sent():
    presence = Presence()
    port = LocalCommandPort(presence)
    outcome = await port.send("CP-1", "Reset", {"type": "Hard"})
    assert outcome.status is CommandStatus.OFFLINE
    presence.connected("CP-1", FakeConnection(), "ocpp1.6", T0)  # adapter not built yet
    assert (await port.send("CP-1", "Reset", {"type": "Hard"})).status is CommandStatus.OFFLINE


async def test_an_invalid_command_is_not_sent():
    charge_point = ScriptedChargePoint()
    port, _ = connected(charge_point, "ocpp2.0.1")
    outcome = await port.send("CP-1", "Reset", {"type": "Hard"})
    assert outcome.status is CommandStatus.INVALID and "body.type" in (outcome.detail or "")
    assert outcome.ocpp_version == "2.0.1" and charge_point.calls == []


async def test_an_answer_comes_back_in_the_versions_spelling():
    charge_point = ScriptedChargePoint(
        result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "60"}],
            unknown_key=["Nope"],
        )
    )
    port, _ = connected(charge_point)
    outcome = await port.send("CP-1", "GetConfiguration", {"key": ["HeartbeatInterval", "Nope"]})
    assert outcome == CommandOutcome(
        CommandStatus.ANSWERED,
        "GetConfiguration",
        response={
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "60"}],
            "unknownKey": ["Nope"],
        },
        ocpp_version="1.6",
    )
    assert charge_point.calls == [call16.GetConfiguration(key=["HeartbeatInterval", "Nope"])]


async def test_a_callerror_is_an_error_with_the_chargers_code_description_and_details():
    refusal = NotSupportedError(description="not here", details={"cause": "no relay"})
    port, _ = connected(ScriptedChargePoint(refusal))
    outcome = await port.send("CP-1", "Reset", {"type": "Soft"})
    assert outcome.status is CommandStatus.ERROR
    assert outcome.error == CallErrorReply("NotSupported", "not here", {"cause": "no relay"})
    assert outcome.response is None


async def test_a_callerror_code_ocpp_does_not_define_is_still_an_error():
    port, _ = connected(ScriptedChargePoint(UnknownCallErrorCodeError("Error code 'Oops'")))
    outcome = await port.send("CP-1", "ClearCache", {})
    assert outcome.status is CommandStatus.ERROR and outcome.error is not None
    assert outcome.error.code is None


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (TypeError("unexpected keyword argument 'colour'"), "fields a Reset response does not"),
        (result16.Reset(status="Maybe"), "'Maybe' is not one of"),
    ],
)
async def test_an_answer_that_breaks_its_schema_is_an_error(answer, says):
    port, _ = connected(ScriptedChargePoint(answer))
    outcome = await port.send("CP-1", "Reset", {"type": "Soft"})
    assert outcome.status is CommandStatus.ERROR and outcome.error is None
    assert says in (outcome.detail or "")


async def test_no_answer_in_time_is_a_timeout():
    port, _ = connected(ScriptedChargePoint(never()))
    outcome = await port.send("CP-1", "ClearCache", {}, 0.05)
    assert outcome.status is CommandStatus.TIMEOUT
    assert outcome.detail == "no answer within 0.05 s"


async def test_a_socket_closing_before_the_answer_ends_the_command_at_once():
    port, connection = connected(ScriptedChargePoint(never()))
    sending = asyncio.create_task(port.send("CP-1", "ClearCache", {}, 10))
    await asyncio.sleep(0.01)
    connection.closed.set()
    async with asyncio.timeout(1):
        outcome = await sending
    assert outcome.status is CommandStatus.TIMEOUT and "disconnected" in (outcome.detail or "")


async def test_a_socket_closed_under_the_send_is_offline():
    port, _ = connected(ScriptedChargePoint(ConnectionClosedOK(None, None)))
    outcome = await port.send("CP-1", "ClearCache", {})
    assert outcome.status is CommandStatus.OFFLINE


async def test_commands_to_one_charger_go_out_one_at_a_time_in_order():
    release = asyncio.Event()

    async def slow() -> Any:
        await release.wait()
        return result16.Reset(status="Accepted")

    charge_point = ScriptedChargePoint(slow, result16.ClearCache(status="Accepted"))
    port, _ = connected(charge_point)
    first = asyncio.create_task(port.send("CP-1", "Reset", {"type": "Soft"}))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(port.send("CP-1", "ClearCache", {}))
    await asyncio.sleep(0.05)
    assert [type(c).__name__ for c in charge_point.calls] == ["Reset"]
    release.set()
    assert (await first).answered and (await second).answered
    assert [type(c).__name__ for c in charge_point.calls] == ["Reset", "ClearCache"]
    assert charge_point.most_in_flight == 1


async def test_a_command_whose_turn_does_not_come_in_time_is_never_sent():
    charge_point = ScriptedChargePoint(never(), result16.ClearCache(status="Accepted"))
    port, _ = connected(charge_point)
    first = asyncio.create_task(port.send("CP-1", "Reset", {"type": "Soft"}, 0.2))
    await asyncio.sleep(0.01)
    outcome = await port.send("CP-1", "ClearCache", {}, 0.05)
    assert outcome.status is CommandStatus.TIMEOUT and (outcome.detail or "").startswith("not sent")
    assert (await first).status is CommandStatus.TIMEOUT
    assert len(charge_point.calls) == 1


# -- the command log --


class FakeHistory:
    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.rows: dict[int, dict[str, Any]] = {}

    async def open(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        *,
        requested_by: str | None,
        timeout_sec: float,
        at: datetime,
    ) -> int | None:
        if charger_id not in self.known:
            return None
        command_id = len(self.rows) + 1
        self.rows[command_id] = {"action": action, "by": requested_by, "status": "sent"}
        return command_id

    async def settle(self, command_id: int, outcome: CommandOutcome, at: datetime) -> None:
        self.rows[command_id]["status"] = str(outcome.status)


class FixedPort:
    def __init__(self, outcome: CommandOutcome | BaseException) -> None:
        self.outcome = outcome
        self.sent: list[tuple[str, str]] = []

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = 30.0,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        self.sent.append((charger_id, action))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def recorded(inner: FixedPort) -> tuple[RecordedCommandPort, FakeHistory]:
    history = FakeHistory({"CP-1"})
    return RecordedCommandPort(inner, history, FixedClock(T0)), history  # type: ignore[arg-type]


async def test_every_ending_is_logged_under_the_id_the_outcome_carries():
    inner = FixedPort(CommandOutcome(CommandStatus.OFFLINE, "Reset", detail="not connected"))
    port, history = recorded(inner)
    outcome = await port.send("CP-1", "Reset", {"type": "Hard"}, requested_by="ops-1")
    assert outcome.status is CommandStatus.OFFLINE and outcome.command_id == 1
    assert history.rows == {1: {"action": "Reset", "by": "ops-1", "status": "offline"}}


async def test_an_unknown_charger_is_neither_sent_to_nor_logged():
    inner = FixedPort(CommandOutcome(CommandStatus.ANSWERED, "Reset", response={}))
    port, history = recorded(inner)
    outcome = await port.send("CP-404", "Reset", {"type": "Hard"})
    assert outcome.status is CommandStatus.UNKNOWN and outcome.command_id is None
    assert inner.sent == [] and history.rows == {}


@pytest.mark.parametrize("failure", [RuntimeError("bug"), asyncio.CancelledError()])
async def test_a_command_cut_short_is_not_left_sent(failure):
    port, history = recorded(FixedPort(failure))
    with pytest.raises(type(failure)):
        await port.send("CP-1", "ClearCache", {})
    assert history.rows[1]["status"] == "timeout"
