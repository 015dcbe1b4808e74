"""The OCPP-J edge over a real WebSocket: every broken frame gets its version's answer, or none
where the version allows none, and the connection keeps serving afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import ocpp.messages
import ocpp.v16
import ocpp.v201
import pytest
from ocpp.exceptions import FormatViolationError
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v16.enums import Action as Action16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201
from ocpp.v201.enums import Action as Action201
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from csms.ocpp.base import ProtocolEdge

NOW = "2026-11-27T09:00:00Z"
SECRET = "password=hunter2 at db.internal:5432"
TIMEOUT_SEC = 2.0


class CP16(ProtocolEdge, ocpp.v16.ChargePoint):
    @on(Action16.heartbeat)
    async def on_heartbeat(self) -> result16.Heartbeat:
        return result16.Heartbeat(current_time=NOW)

    @on(Action16.boot_notification)
    async def on_boot_notification(self, **_: Any) -> result16.BootNotification:
        return result16.BootNotification(current_time=NOW, interval=300, status="Accepted")

    @on(Action16.status_notification)
    async def on_status_notification(self, **_: Any) -> result16.StatusNotification:
        return result16.StatusNotification()

    @on(Action16.data_transfer)
    async def on_data_transfer(self, **_: Any) -> result16.DataTransfer:
        raise RuntimeError(SECRET)

    @on(Action16.firmware_status_notification)
    async def on_firmware_status_notification(self, **_: Any) -> None:
        raise FormatViolationError(details={"cause": "status names no firmware"})


class CP201(ProtocolEdge, ocpp.v201.ChargePoint):
    @on(Action201.heartbeat)
    async def on_heartbeat(self) -> result201.Heartbeat:
        return result201.Heartbeat(current_time=NOW)

    @on(Action201.boot_notification)
    async def on_boot_notification(self, **_: Any) -> result201.BootNotification:
        return result201.BootNotification(current_time=NOW, interval=300, status="Accepted")

    @on(Action201.data_transfer)
    async def on_data_transfer(self, **_: Any) -> result201.DataTransfer:
        raise RuntimeError(SECRET)

    @on(Action201.firmware_status_notification)
    async def on_firmware_status_notification(self, **_: Any) -> None:
        raise FormatViolationError(details={"cause": "status names no firmware"})


@dataclass(frozen=True)
class Version:
    subprotocol: str
    adapter: type[ProtocolEdge]
    clear_cache: Any
    codes: dict[str, str]  # what each fault is called in this version
    answers_unreadable: bool  # 2.0.1 answers a frame without a readable id, with "-1"
    schema_cases: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


V16 = Version(
    "ocpp1.6",
    CP16,
    call16.ClearCache,
    codes={
        "rpc": "FormationViolation",
        "message_type": "FormationViolation",
        "format": "FormationViolation",
        "occurrence": "OccurenceConstraintViolation",  # 1.6 spells it so
        "type": "TypeConstraintViolation",
        "property": "PropertyConstraintViolation",
    },
    answers_unreadable=False,
    schema_cases={
        "missing required field": (
            "BootNotification",
            {"chargePointVendor": "VendorX"},
        ),
        "wrong type": (
            "BootNotification",
            {"chargePointVendor": 7, "chargePointModel": "Model1"},
        ),
        "string too long": (
            "BootNotification",
            {"chargePointVendor": "V" * 21, "chargePointModel": "Model1"},
        ),
        "value outside its enum": (
            "StatusNotification",
            {"connectorId": 1, "errorCode": "Oops", "status": "Available"},
        ),
    },
)
V201 = Version(
    "ocpp2.0.1",
    CP201,
    call201.ClearCache,
    codes={
        "rpc": "RpcFrameworkError",
        "message_type": "MessageTypeNotSupported",
        "format": "FormatViolation",
        "occurrence": "OccurrenceConstraintViolation",
        "type": "TypeConstraintViolation",
        "property": "PropertyConstraintViolation",
    },
    answers_unreadable=True,
    schema_cases={
        "missing required field": (
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"vendorName": "VendorX"}},
        ),
        "wrong type": (
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"model": 7, "vendorName": "VendorX"}},
        ),
        "string too long": (
            "BootNotification",
            {"reason": "PowerUp", "chargingStation": {"model": "M" * 21, "vendorName": "V"}},
        ),
        "value outside its enum": (
            "BootNotification",
            {"reason": "Bored", "chargingStation": {"model": "Model1", "vendorName": "VendorX"}},
        ),
    },
)
SCHEMA_FAULTS = {
    "missing required field": "occurrence",
    "wrong type": "type",
    "string too long": "type",
    "value outside its enum": "property",
}


@dataclass
class Charger:
    """The charger's end of the socket, sending raw frames."""

    ws: ClientConnection
    version: Version
    adapter: asyncio.Future[Any]

    def code(self, fault: str) -> str:
        return self.version.codes[fault]

    async def send(self, frame: str | bytes | list[Any]) -> None:
        await self.ws.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def reply(self) -> list[Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), TIMEOUT_SEC))

    async def exchange(self, frame: str | bytes | list[Any]) -> list[Any]:
        await self.send(frame)
        return await self.reply()

    async def assert_still_serving(self) -> None:
        """A Heartbeat is answered next: the socket is up and nothing else was sent before."""
        assert await self.exchange([2, "hb", "Heartbeat", {}]) == [3, "hb", {"currentTime": NOW}]


@pytest.fixture(params=[V16, V201], ids=["1.6", "2.0.1"])
async def charger(request) -> AsyncIterator[Charger]:
    version: Version = request.param
    adapter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    async def handle(conn: ServerConnection) -> None:
        charge_point = version.adapter("CP-1", conn)
        adapter.set_result(charge_point)
        with contextlib.suppress(ConnectionClosed):  # the test's client hung up
            await charge_point.start()

    async with serve(handle, "127.0.0.1", 0, subprotocols=[version.subprotocol]) as server:
        port = server.sockets[0].getsockname()[1]
        url = f"ws://127.0.0.1:{port}/ocpp/CP-1"
        async with connect(url, subprotocols=[version.subprotocol]) as ws:
            assert ws.subprotocol == version.subprotocol
            yield Charger(ws, version, adapter)


def assert_call_error(reply: list[Any], unique_id: str, code: str) -> None:
    assert reply[:3] == [4, unique_id, code]
    assert len(reply) == 5
    assert isinstance(reply[3], str) and len(reply[3]) <= 255
    assert isinstance(reply[4], dict)


async def test_a_valid_call_is_answered_with_its_result(charger):
    await charger.assert_still_serving()


@pytest.mark.parametrize(
    "frame",
    [
        "not json at all",
        b"\x80\x81 not utf-8",
        "[" * 50_000,
        '{"messageTypeId": 2}',
        '"a string"',
        "[]",
        "[2]",
        '[2, 17, "Heartbeat", {}]',
    ],
    ids=[
        "not json",
        "not utf-8",
        "nested too deep",
        "an object",
        "a string",
        "empty array",
        "type only",
        "id not a string",
    ],
)
async def test_a_frame_without_a_readable_id_is_answered_with_minus_one_only_in_201(charger, frame):
    await charger.send(frame)
    if charger.version.answers_unreadable:
        assert_call_error(await charger.reply(), "-1", charger.code("rpc"))
    await charger.assert_still_serving()


@pytest.mark.parametrize(
    "frame",
    [
        '[2, "m-1"]',
        '[2, "m-1", "Heartbeat"]',
        '[2, "m-1", "Heartbeat", {}, {}]',
        '[2, "m-1", 42, {}]',
        '["2", "m-1", "Heartbeat", {}]',
        '[true, "m-1", "Heartbeat", {}]',
        '[2.0, "m-1", "Heartbeat", {}]',
    ],
    ids=[
        "too short",
        "no payload",
        "too long",
        "action not a string",
        "type a string",
        "type a boolean",
        "type a float",
    ],
)
async def test_a_malformed_call_is_refused_with_its_own_message_id(charger, frame):
    assert_call_error(await charger.exchange(frame), "m-1", charger.code("rpc"))
    await charger.assert_still_serving()


@pytest.mark.parametrize("frame", ['[9, "m-2", "Heartbeat", {}]', '[6, "m-2", "Meter", {}]'])
async def test_an_unknown_message_type_is_refused_with_the_versions_code(charger, frame):
    assert_call_error(await charger.exchange(frame), "m-2", charger.code("message_type"))
    await charger.assert_still_serving()


@pytest.mark.parametrize("payload", [[1], "x", 3, True])
async def test_a_payload_that_is_not_an_object_is_a_format_violation(charger, payload):
    reply = await charger.exchange([2, "m-3", "Heartbeat", payload])
    assert_call_error(reply, "m-3", charger.code("format"))
    await charger.assert_still_serving()


async def test_a_null_payload_means_no_payload(charger):
    assert await charger.exchange('[2, "m-4", "Heartbeat", null]') == [
        3,
        "m-4",
        {"currentTime": NOW},
    ]


async def test_an_action_the_version_does_not_define_is_not_implemented(charger):
    assert_call_error(await charger.exchange([2, "m-5", "FlyToMoon", {}]), "m-5", "NotImplemented")
    await charger.assert_still_serving()


async def test_an_action_the_version_defines_without_a_handler_is_not_supported(charger):
    reply = await charger.exchange([2, "m-6", "Authorize", {}])
    assert_call_error(reply, "m-6", "NotSupported")
    await charger.assert_still_serving()


async def test_a_property_the_schema_does_not_allow_is_a_format_violation(charger):
    reply = await charger.exchange([2, "m-7", "Heartbeat", {"colour": "blue"}])
    assert_call_error(reply, "m-7", charger.code("format"))
    assert "colour" in reply[4]["cause"]
    await charger.assert_still_serving()


@pytest.mark.parametrize("case", list(SCHEMA_FAULTS))
async def test_a_schema_violation_gets_the_versions_own_code(charger, case):
    action, payload = charger.version.schema_cases[case]
    reply = await charger.exchange([2, "m-8", action, payload])
    assert_call_error(reply, "m-8", charger.code(SCHEMA_FAULTS[case]))
    assert reply[4]["cause"].startswith("$")  # where in the payload
    await charger.assert_still_serving()


async def test_a_failing_handler_is_an_internal_error_that_keeps_its_text_to_the_log(
    charger, caplog
):
    with caplog.at_level(logging.ERROR, logger="csms.ocpp.base"):
        reply = await charger.exchange([2, "m-9", "DataTransfer", {"vendorId": "com.example"}])
    assert_call_error(reply, "m-9", "InternalError")
    assert reply[4] == {}
    assert "hunter2" not in json.dumps(reply)
    [record] = [r for r in caplog.records if r.getMessage() == "OCPP handler failed"]
    assert (record.charger_id, record.action, record.message_id) == ("CP-1", "DataTransfer", "m-9")
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
    await charger.assert_still_serving()


async def test_an_ocpp_error_a_handler_raises_is_spelt_as_the_version_spells_it(charger):
    frame = [2, "m-10", "FirmwareStatusNotification", {"status": "Installed"}]
    reply = await charger.exchange(frame)
    assert_call_error(reply, "m-10", charger.code("format"))
    assert reply[4] == {"cause": "status names no firmware"}
    await charger.assert_still_serving()


@pytest.mark.parametrize(
    "frame",
    ['[3, "nobody-asked", {}]', '[4, "nobody-asked", "GenericError", "", {}]'],
    ids=["callresult", "callerror"],
)
async def test_an_answer_to_no_pending_call_is_logged_and_dropped(charger, caplog, frame):
    with caplog.at_level(logging.WARNING, logger="csms.ocpp.base"):
        await charger.send(frame)
        await charger.assert_still_serving()
    assert any(r.getMessage() == "answer to no pending call dropped" for r in caplog.records)
    adapter = await charger.adapter
    assert adapter._response_queue.empty()


@pytest.mark.parametrize(
    "frame",
    [
        '[3, "m-11"]',
        '[3, "m-11", {}, {}]',
        '[3, "m-11", [1]]',
        "[3, 11, {}]",
        '[4, "m-11", 5, "", {}]',
        '[4, "m-11", "GenericError"]',
    ],
)
async def test_a_malformed_answer_is_dropped_not_answered(charger, frame):
    await charger.send(frame)
    await charger.assert_still_serving()


async def test_a_pending_call_takes_only_its_own_answer(charger):
    adapter = await charger.adapter
    pending = asyncio.create_task(adapter.call(charger.version.clear_cache(), suppress=False))
    request = await charger.reply()
    assert request[0] == 2 and request[2] == "ClearCache"
    await charger.send([3, "someone-else", {"status": "Rejected"}])
    await charger.send([3, request[1], {"status": "Accepted"}])
    assert (await asyncio.wait_for(pending, TIMEOUT_SEC)).status == "Accepted"
    await charger.send([3, request[1], {"status": "Rejected"}])  # a late duplicate
    await charger.assert_still_serving()
    assert adapter._response_queue.empty()


def test_schemas_are_validated_inline_not_in_a_thread_pool():
    assert ocpp.messages.ASYNC_VALIDATION is False


def test_a_mixin_that_wraps_route_message_must_come_before_the_edge():
    class Presence:
        async def route_message(self, raw: str) -> None:
            await super().route_message(raw)  # type: ignore[misc]

    with pytest.raises(TypeError, match="Presence"):

        class Misplaced(ProtocolEdge, Presence, ocpp.v16.ChargePoint):
            pass

    class Placed(Presence, ProtocolEdge, ocpp.v16.ChargePoint):
        pass
