"""Simulated charging stations: one that answers every command csms sends with its canned
answer (and keeps what it was sent), and an OCPP 2.0.1 station that acts on remote starts and
stops as a charger with a cable plugged in would."""

from __future__ import annotations

import json
from typing import Any

from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import NotSupportedError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

# What operators send (in the version's own spelling) and what the simulated charger answers.
EXCHANGES: dict[str, dict[str, tuple[dict[str, Any], dict[str, Any]]]] = {
    "1.6": {
        "Reset": ({"type": "Soft"}, {"status": "Accepted"}),
        "UnlockConnector": ({"connectorId": 1}, {"status": "Unlocked"}),
        "ChangeAvailability": (
            {"connectorId": 0, "type": "Inoperative"},
            {"status": "Scheduled"},
        ),
        "ChangeConfiguration": (
            {"key": "HeartbeatInterval", "value": "120"},
            {"status": "RebootRequired"},
        ),
        "GetConfiguration": (
            {"key": ["HeartbeatInterval", "NoSuchKey"]},
            {
                "configurationKey": [
                    {"key": "HeartbeatInterval", "readonly": False, "value": "120"}
                ],
                "unknownKey": ["NoSuchKey"],
            },
        ),
        "ClearCache": ({}, {"status": "Accepted"}),
        "TriggerMessage": (
            {"requestedMessage": "StatusNotification", "connectorId": 1},
            {"status": "Accepted"},
        ),
        "DataTransfer": (
            {"vendorId": "ACME", "messageId": "ping", "data": "hello"},
            {"status": "Accepted", "data": "pong"},
        ),
        "GetLocalListVersion": ({}, {"listVersion": 3}),
        "SendLocalList": (
            {
                "listVersion": 4,
                "updateType": "Full",
                "localAuthorizationList": [
                    {"idTag": "RFID-1", "idTagInfo": {"status": "Accepted"}}
                ],
            },
            {"status": "Accepted"},
        ),
        "ReserveNow": (
            {
                "connectorId": 1,
                "expiryDate": "2026-11-27T12:00:00Z",
                "idTag": "RFID-1",
                "reservationId": 7,
            },
            {"status": "Occupied"},
        ),
        "CancelReservation": ({"reservationId": 7}, {"status": "Accepted"}),
    },
    "2.0.1": {
        "Reset": ({"type": "Immediate", "evseId": 1}, {"status": "Scheduled"}),
        "UnlockConnector": ({"evseId": 1, "connectorId": 1}, {"status": "Unlocked"}),
        "ChangeAvailability": (
            {"operationalStatus": "Inoperative", "evse": {"id": 1, "connectorId": 1}},
            {"status": "Accepted", "statusInfo": {"reasonCode": "OK"}},
        ),
        "GetVariables": (
            {
                "getVariableData": [
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
            {
                "getVariableResult": [
                    {
                        "attributeStatus": "Accepted",
                        "attributeValue": "120",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
        ),
        "SetVariables": (
            {
                "setVariableData": [
                    {
                        "attributeValue": "60",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
            {
                "setVariableResult": [
                    {
                        "attributeStatus": "Accepted",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
        ),
        "GetBaseReport": ({"requestId": 1, "reportBase": "FullInventory"}, {"status": "Accepted"}),
        "ClearCache": ({}, {"status": "Rejected"}),
        "TriggerMessage": (
            {"requestedMessage": "StatusNotification", "evse": {"id": 1, "connectorId": 1}},
            {"status": "Accepted"},
        ),
        "DataTransfer": (
            {"vendorId": "ACME", "messageId": "ping", "data": {"temperatureC": 41}},
            {"status": "Accepted", "data": {"fanSpeed": 3}},
        ),
        "GetTransactionStatus": (
            {"transactionId": "TX-1"},
            {"messagesInQueue": False, "ongoingIndicator": True},
        ),
        "ReserveNow": (
            {
                "id": 7,
                "expiryDateTime": "2026-11-27T12:00:00Z",
                "idToken": {"idToken": "RFID-1", "type": "ISO14443"},
                "evseId": 1,
            },
            {"status": "Accepted"},
        ),
        "CancelReservation": ({"reservationId": 7}, {"status": "Accepted"}),
    },
}
RESULTS = {"1.6": result16, "2.0.1": result201}
CLIENTS = {"1.6": Client16, "2.0.1": Client201}


def simulated_charger_class(version: str, refuse: frozenset[str] = frozenset()) -> type:
    """A client ChargePoint that answers every command with its canned answer, refuses the
    `refuse` ones with a CALLERROR, and keeps each CALL's payload as it came off the wire."""

    def handler(action: str) -> Any:
        async def answer(self: Any, **_: Any) -> Any:
            if action in refuse:
                raise NotSupportedError(description=f"no {action} on this charger")
            canned = EXCHANGES[version][action][1]
            return getattr(RESULTS[version], action)(**camel_to_snake_case(canned))

        answer.__name__ = f"on_{action}"  # the library finds handlers by function name
        return on(action)(answer)

    async def route_message(self: Any, raw: str) -> None:
        frame = json.loads(raw)
        if frame[0] == 2:
            self.received.append((frame[2], frame[3]))
        await CLIENTS[version].route_message(self, raw)

    namespace = {f"on_{a}": handler(a) for a in EXCHANGES[version]}
    return type(
        f"SimulatedCharger{version}",
        (CLIENTS[version],),
        {**namespace, "route_message": route_message},
    )


class Station201(Client201):
    @on("RequestStartTransaction")
    async def request_start(self, id_token: dict, remote_start_id: int, **_: Any) -> Any:
        return result201.RequestStartTransaction(status="Accepted")

    @after("RequestStartTransaction")
    async def begin(
        self, id_token: dict, remote_start_id: int, evse_id: int | None = None, **_: Any
    ) -> None:
        await self.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp="2026-11-27T10:00:00Z",
                trigger_reason="RemoteStart",
                seq_no=0,
                transaction_info={"transaction_id": "RS-1", "remote_start_id": remote_start_id},
                evse={"id": evse_id or 1, "connector_id": 1},
                id_token=id_token,
                meter_value=[meter(2_000, "2026-11-27T10:00:00Z")],
            )
        )

    @on("RequestStopTransaction")
    async def request_stop(self, transaction_id: str, **_: Any) -> Any:
        return result201.RequestStopTransaction(status="Accepted")

    @after("RequestStopTransaction")
    async def end(self, transaction_id: str, **_: Any) -> None:
        await self.call(
            call201.TransactionEvent(
                event_type="Ended",
                timestamp="2026-11-27T10:30:00Z",
                trigger_reason="RemoteStop",
                seq_no=1,
                transaction_info={"transaction_id": transaction_id, "stopped_reason": "Remote"},
                meter_value=[meter(12_000, "2026-11-27T10:30:00Z")],
            )
        )


def meter(wh: int, ts: str) -> dict[str, Any]:
    return {
        "timestamp": ts,
        "sampledValue": [
            {"value": wh, "measurand": "Energy.Active.Import.Register", "unitOfMeasure": {}}
        ],
    }
