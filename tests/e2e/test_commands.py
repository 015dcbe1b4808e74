"""CSMS -> charger commands through REST, against simulated chargers over real WebSockets."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import websockets

from tests.support.chargers import Charger, register
from tests.support.stations import EXCHANGES, simulated_charger_class


async def simulated(csms: Any, cp_id: str, version: str, **kwargs: Any) -> Charger:
    ws = await websockets.connect(f"{csms.ocpp}/{cp_id}", subprotocols=[f"ocpp{version}"])
    client = simulated_charger_class(version, **kwargs)(cp_id, ws)
    client.received = []
    charger = Charger(client, ws)
    await wait_connected(csms, cp_id)
    return charger


async def wait_connected(csms: Any, cp_id: str) -> None:
    from csms.api import PRESENCE

    presence = csms.platform.hosts[0].parts.app[PRESENCE]
    async with asyncio.timeout(5):
        while (live := presence.get(cp_id)) is None or live.charge_point is None:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def command(http: Any, csms: Any, cp_id: str, action: str, body: Any = None, **query: Any):
    url = csms.url(f"/chargers/{cp_id}/commands/{action}")
    async with http.post(url, json=body, params=query, headers=csms.headers) as r:
        return r.status, r.content_type, await r.json()


async def command_log(http: Any, csms: Any, cp_id: str, **query: Any) -> dict[str, Any]:
    url = csms.url(f"/chargers/{cp_id}/commands")
    async with http.get(url, params=query, headers=csms.headers) as r:
        assert r.status == 200, await r.text()
        return await r.json()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_every_command_reaches_the_charger_as_sent_and_its_answer_comes_back(
    http, csms, version
):
    await register(http, csms, id="CP-CMD")
    charger = await simulated(csms, "CP-CMD", version)
    for action, (request, answer) in EXCHANGES[version].items():
        status, _, body = await command(http, csms, "CP-CMD", action, request)
        assert status == 200, (action, body)
        assert body["action"] == action and body["status"] == "answered"
        assert body["response"] == answer, action
        assert charger.client.received[-1] == (action, request)
    assert [a for a, _ in charger.client.received] == list(EXCHANGES[version])

    log = await command_log(http, csms, "CP-CMD", limit=200)
    assert log["total"] == 12
    newest_first = [c["action"] for c in log["items"]]
    assert newest_first == list(reversed(EXCHANGES[version]))
    for entry in log["items"]:
        request, answer = EXCHANGES[version][entry["action"]]
        assert (entry["status"], entry["request"], entry["response"]) == (
            "answered",
            request,
            answer,
        )
        assert entry["requested_by"] == "user-1" and entry["answered_at"] and not entry["error"]
    await charger.close()


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_callerror_from_the_charger_is_a_502_with_its_code(http, csms, version):
    await register(http, csms, id="CP-ERR")
    charger = await simulated(csms, "CP-ERR", version, refuse=frozenset({"Reset"}))
    status, content_type, problem = await command(
        http, csms, "CP-ERR", "Reset", EXCHANGES[version]["Reset"][0]
    )
    assert (status, content_type) == (502, "application/problem+json")
    assert problem["ocpp_error_code"] == "NotSupported"
    assert problem["ocpp_error_description"] == "no Reset on this charger"
    assert problem["command_id"] and problem["action"] == "Reset"
    [entry] = (await command_log(http, csms, "CP-ERR"))["items"]
    assert entry["status"] == "error" and entry["error"]["code"] == "NotSupported"
    assert entry["id"] == problem["command_id"] and entry["answered_at"]
    await charger.close()


async def test_a_charger_that_never_answers_is_a_504_after_the_timeout(http, csms):
    await register(http, csms, id="CP-MUTE")
    async with websockets.connect(f"{csms.ocpp}/CP-MUTE", subprotocols=["ocpp1.6"]) as ws:
        await wait_connected(csms, "CP-MUTE")
        started = time.monotonic()
        status, content_type, problem = await command(
            http, csms, "CP-MUTE", "ClearCache", {}, timeout=1
        )
        assert (status, content_type) == (504, "application/problem+json")
        assert problem["type"] == "urn:chargepark:problem:charger-timeout"
        assert 0.9 < time.monotonic() - started < 5
        assert json.loads(await ws.recv())[2:] == ["ClearCache", {}]  # it was sent
    [entry] = (await command_log(http, csms, "CP-MUTE"))["items"]
    assert entry["status"] == "timeout" and entry["timeout_sec"] == 1
    assert entry["answered_at"] is None and "no answer" in entry["error"]["description"]


async def test_a_charger_that_disconnects_mid_command_ends_it_at_once(http, csms):
    await register(http, csms, id="CP-DROP")
    ws = await websockets.connect(f"{csms.ocpp}/CP-DROP", subprotocols=["ocpp1.6"])
    await wait_connected(csms, "CP-DROP")
    pending = asyncio.create_task(command(http, csms, "CP-DROP", "ClearCache", {}, timeout=20))
    await ws.recv()
    started = time.monotonic()
    await ws.close()
    status, _, problem = await pending
    assert status == 504 and "disconnected" in problem["detail"]
    assert time.monotonic() - started < 5


async def test_an_offline_charger_is_a_409_and_the_attempt_is_logged(http, csms):
    await register(http, csms, id="CP-OFF")
    status, content_type, problem = await command(http, csms, "CP-OFF", "Reset", {"type": "Hard"})
    assert (status, content_type) == (409, "application/problem+json")
    assert problem["type"] == "urn:chargepark:problem:charger-offline"
    [entry] = (await command_log(http, csms, "CP-OFF"))["items"]
    assert (entry["status"], entry["request"]) == ("offline", {"type": "Hard"})


async def test_an_unknown_charger_is_a_404_and_logs_nothing(http, csms):
    status, content_type, _ = await command(http, csms, "CP-NONE", "Reset", {"type": "Hard"})
    assert (status, content_type) == (404, "application/problem+json")
    async with http.get(csms.url("/chargers/CP-NONE/commands"), headers=csms.headers) as r:
        assert r.status == 404


@pytest.mark.parametrize(
    ("version", "action", "body", "names"),
    [
        ("1.6", "Reset", {"type": "Hardish"}, "body.type"),
        ("1.6", "Reset", {}, "'type' is a required property"),
        ("1.6", "ChangeConfiguration", {"key": "K", "value": 5}, "body.value"),
        ("1.6", "Reset", {"type": "Hard", "when": "now"}, "'when' was unexpected"),
        ("2.0.1", "Reset", {"type": "Hard"}, "body.type"),  # 1.6's spelling
        (
            "2.0.1",
            "GetVariables",
            {"getVariableData": [{"component": {"name": "X"}, "variable": {}}]},
            "body.getVariableData[0].variable",
        ),
        ("2.0.1", "DataTransfer", {"vendorId": "V", "data": {"snake_key": 1}}, "body.data"),
        ("1.6", "GetVariables", {"getVariableData": []}, "GetConfiguration"),  # 2.0.1 only
        ("2.0.1", "GetConfiguration", {}, "GetVariables"),  # 1.6 only
        ("1.6", "Reset", [], "object"),
    ],
)
async def test_invalid_commands_are_422_naming_the_field_and_never_sent(
    http, csms, version, action, body, names
):
    await register(http, csms, id="CP-BAD")
    charger = await simulated(csms, "CP-BAD", version)
    status, content_type, problem = await command(http, csms, "CP-BAD", action, body)
    assert (status, content_type) == (422, "application/problem+json"), problem
    assert names in problem["detail"]
    assert charger.client.received == []
    await charger.close()


# A remote start or stop must keep its session in step: only the sessions API sends them.
@pytest.mark.parametrize("action", ["FlyToMoon", "RemoteStartTransaction", "reset"])
async def test_an_unknown_command_is_a_404_that_lists_the_commands(http, csms, action):
    await register(http, csms, id="CP-X")
    charger = await simulated(csms, "CP-X", "1.6")
    status, content_type, problem = await command(http, csms, "CP-X", action, {"idTag": "A"})
    assert (status, content_type) == (404, "application/problem+json")
    assert "GetConfiguration" in problem["actions"]["1.6"]
    assert "GetVariables" in problem["actions"]["2.0.1"]
    assert (await command_log(http, csms, "CP-X"))["total"] == 0
    assert charger.client.received == []
    await charger.close()


async def test_commands_without_parameters_need_no_body_and_bad_timeouts_are_refused(http, csms):
    await register(http, csms, id="CP-NB")
    charger = await simulated(csms, "CP-NB", "1.6")
    url = csms.url("/chargers/CP-NB/commands/GetLocalListVersion")
    async with http.post(url, headers=csms.headers) as r:
        assert r.status == 200 and (await r.json())["response"] == {"listVersion": 3}
    for timeout in ("0", "31", "soon"):
        status, _, problem = await command(http, csms, "CP-NB", "ClearCache", {}, timeout=timeout)
        assert status == 422 and "timeout" in problem["detail"]
    await charger.close()


async def test_commands_to_one_charger_go_out_one_at_a_time(http, csms):
    await register(http, csms, id="CP-SEQ")
    async with websockets.connect(f"{csms.ocpp}/CP-SEQ", subprotocols=["ocpp1.6"]) as ws:
        await wait_connected(csms, "CP-SEQ")
        first = asyncio.create_task(command(http, csms, "CP-SEQ", "Reset", {"type": "Soft"}))
        call = json.loads(await ws.recv())
        assert call[2] == "Reset"
        second = asyncio.create_task(command(http, csms, "CP-SEQ", "ClearCache", {}))
        with pytest.raises(TimeoutError):  # no second CALL while the first is unanswered
            async with asyncio.timeout(0.5):
                await ws.recv()
        assert not second.done()
        await ws.send(json.dumps([3, call[1], {"status": "Accepted"}]))
        assert (await first)[0] == 200
        call = json.loads(await ws.recv())
        assert call[2] == "ClearCache"
        await ws.send(json.dumps([3, call[1], {"status": "Rejected"}]))
        status, _, body = await second
        assert status == 200 and body["response"] == {"status": "Rejected"}


async def test_the_command_log_pages_newest_first_with_every_ending(http, csms):
    await register(http, csms, id="CP-LOG")
    await command(http, csms, "CP-LOG", "ClearCache", {})  # offline
    charger = await simulated(csms, "CP-LOG", "1.6", refuse=frozenset({"Reset"}))
    await command(http, csms, "CP-LOG", "Reset", {"type": "Hard"})  # error
    await command(http, csms, "CP-LOG", "Reset", {"type": "Never"})  # invalid
    await command(http, csms, "CP-LOG", "ClearCache", {})  # answered
    page = await command_log(http, csms, "CP-LOG", limit=2)
    assert page["total"] == 4 and page["limit"] == 2
    assert [c["status"] for c in page["items"]] == ["answered", "invalid"]
    page = await command_log(http, csms, "CP-LOG", limit=2, offset=2)
    assert [c["status"] for c in page["items"]] == ["error", "offline"]
    await charger.close()


async def test_the_port_on_the_app_sends_and_logs_for_python_callers_too(http, csms):
    from csms.api import GATEWAY
    from csms.ports.gateway import CommandStatus

    await register(http, csms, id="CP-PY")
    charger = await simulated(csms, "CP-PY", "2.0.1")
    port = csms.platform.hosts[0].parts.app[GATEWAY]
    outcome = await port.send(
        "CP-PY", "GetTransactionStatus", {"transactionId": "TX-1"}, requested_by="sessions"
    )
    assert outcome.status is CommandStatus.ANSWERED and outcome.ocpp_version == "2.0.1"
    assert outcome.response == {"messagesInQueue": False, "ongoingIndicator": True}
    [entry] = (await command_log(http, csms, "CP-PY"))["items"]
    assert (entry["id"], entry["requested_by"]) == (outcome.command_id, "sessions")
    await charger.close()
