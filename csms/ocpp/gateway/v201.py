"""OCPP 2.0.1's spelling of what csms asks of a charger (F01/F03 Request*Transaction)."""

from __future__ import annotations

from typing import Any

from csms.ports.gateway import StartCharging

VERSION = "2.0.1"
ID_TOKEN_MAX = 36  # IdTokenType.idToken is string[36]


def start_charging(start: StartCharging) -> tuple[str, dict[str, Any]]:
    """RequestStartTransaction: the charger's TransactionEvent names the session by
    remoteStartId."""
    payload: dict[str, Any] = {
        "idToken": {"idToken": start.id_token, "type": "Central"},
        "remoteStartId": start.remote_start_id,
    }
    if start.evse_id:
        payload["evseId"] = start.evse_id
    return "RequestStartTransaction", payload


def stop_charging(transaction_id: str | None) -> tuple[str, dict[str, Any]]:
    return "RequestStopTransaction", {"transactionId": transaction_id}
