"""OCPP 1.6's spelling of what csms asks of a charger."""

from __future__ import annotations

from typing import Any

from csms.ports.gateway import StartCharging

VERSION = "1.6"
ID_TOKEN_MAX = 20  # idTag is CiString20


def start_charging(start: StartCharging) -> tuple[str, dict[str, Any]]:
    """RemoteStartTransaction: 1.6 has no remoteStartId; the charger's StartTransaction is
    matched to the pending session by connector and idTag."""
    payload: dict[str, Any] = {"idTag": start.id_token}
    if start.evse_id:
        payload["connectorId"] = start.evse_id
    return "RemoteStartTransaction", payload


def stop_charging(transaction_id: str | None) -> tuple[str, dict[str, Any]]:
    """RemoteStopTransaction: 1.6 transaction ids are integers."""
    return "RemoteStopTransaction", {"transactionId": int(transaction_id or 0)}
