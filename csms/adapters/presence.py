"""Which chargers hold a WebSocket to this node, and when each was last heard from.

Kept in memory: a heartbeat must not cost a database write. Last-seen times are flushed to the
database in one batch every few seconds (and at shutdown) by the OCPP server. A listener (the
shared presence table, csms/adapters/cluster.py) hears of each socket that becomes a
charger's current one and of each current one that closes: once per connection, never per message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass
class Live:
    connection: Any
    ocpp_version: str
    connected_at: datetime
    last_seen_at: datetime
    charge_point: Any = None  # the adapter on this socket: CSMS -> charger calls go through it


class PresenceListener(Protocol):
    def connected(self, charger_id: str, ocpp_version: str, at: datetime) -> None: ...

    def disconnected(self, charger_id: str) -> None: ...


class Presence:
    def __init__(self, listener: PresenceListener | None = None) -> None:
        self._live: dict[str, Live] = {}
        self._unflushed: dict[str, datetime] = {}
        self.listener = listener

    def connected(
        self, charger_id: str, connection: Any, ocpp_version: str, at: datetime
    ) -> Any | None:
        """Register a new socket; returns the one it replaces, which the caller closes."""
        previous = self._live.get(charger_id)
        self._live[charger_id] = Live(connection, ocpp_version, at, at)
        self._unflushed[charger_id] = at
        if self.listener is not None:
            self.listener.connected(charger_id, ocpp_version, at)
        return previous.connection if previous else None

    def attach(self, charger_id: str, connection: Any, charge_point: Any) -> None:
        """Name the adapter speaking over `connection`, once it is built."""
        live = self._live.get(charger_id)
        if live is not None and live.connection is connection:  # not replaced meanwhile
            live.charge_point = charge_point

    def disconnected(self, charger_id: str, connection: Any) -> None:
        live = self._live.get(charger_id)
        if live is not None and live.connection is connection:  # not a replaced socket
            del self._live[charger_id]
            if self.listener is not None:
                self.listener.disconnected(charger_id)

    def seen(self, charger_id: str, at: datetime) -> None:
        live = self._live.get(charger_id)
        if live is not None:
            live.last_seen_at = at
        self._unflushed[charger_id] = at

    def get(self, charger_id: str) -> Live | None:
        return self._live.get(charger_id)

    def version_of(self, charger_id: str) -> str | None:
        """The OCPP version ("1.6", "2.0.1") of the socket this node holds, if any."""
        live = self._live.get(charger_id)
        return live.ocpp_version.removeprefix("ocpp") if live else None

    def sockets(self) -> dict[str, tuple[str, datetime]]:
        """charger -> (OCPP version, connected at), for every socket this node holds."""
        return {cp: (live.ocpp_version, live.connected_at) for cp, live in self._live.items()}

    def silent(self, since: datetime) -> list[tuple[str, Any]]:
        """(charger, connection) of every socket with no frame from its charger after `since`."""
        return [
            (cp, live.connection) for cp, live in self._live.items() if live.last_seen_at < since
        ]

    def drain(self) -> dict[str, datetime]:
        out, self._unflushed = self._unflushed, {}
        return out
