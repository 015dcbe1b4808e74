"""The command port: send one OCPP CALL to a charger and learn how it ended.

Callers (the REST API, remote start/stop) depend on `CommandPort` only. `LocalCommandPort` talks
to a socket held by this process; `RoutedCommandPort` sends the same call to the csms node that
holds the charger's socket and returns the same `CommandOutcome`; `RecordedCommandPort` keeps
the command log around either.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

DEFAULT_TIMEOUT_SEC = 30.0
# The ocpp library gives up on any CALL after its per-connection response timeout (30 s by
# default), so a longer wait would never be honoured.
MAX_TIMEOUT_SEC = 30.0


class CommandStatus(StrEnum):
    SENT = "sent"  # on its way: only the command log shows it, until the outcome is known
    ANSWERED = "answered"  # the charger's CALLRESULT (which may still say Rejected)
    ERROR = "error"  # a CALLERROR, or an answer that does not match its schema
    TIMEOUT = "timeout"  # no answer in time, or the socket closed before one came
    OFFLINE = "offline"  # no socket to this charger: nothing was sent
    INVALID = "invalid"  # not a valid request of that action in the charger's version
    UNKNOWN = "unknown"  # no such charger: nothing sent, nothing logged


@dataclass(frozen=True)
class CallErrorReply:
    """A CALLERROR exactly as the charger sent it."""

    code: str | None  # None when the charger used a code OCPP does not define
    description: str
    details: Mapping[str, Any]


@dataclass(frozen=True)
class CommandOutcome:
    status: CommandStatus
    action: str
    response: Mapping[str, Any] | None = None  # ANSWERED: the payload, in the version's spelling
    error: CallErrorReply | None = None  # ERROR, when the charger answered with a CALLERROR
    detail: str | None = None  # every status but ANSWERED: why, in words
    ocpp_version: str | None = None  # the version the command was checked and sent in
    command_id: int | None = None  # the command log's id, once recorded

    @property
    def answered(self) -> bool:
        return self.status is CommandStatus.ANSWERED


class CommandPort(Protocol):
    """Sends one command; commands to one charger go out one at a time (OCPP allows a single
    outstanding CALL per connection), in the order they were asked for.

    `payload` is the request as the charger's OCPP version spells it (camelCase), checked
    against that version's schema before it is sent. The timeout (at most MAX_TIMEOUT_SEC)
    covers waiting for earlier commands to the same charger as well as the answer. Every
    expected ending is an outcome, never an exception.

    Never await it inside an OCPP handler of the same charger: the answer is read by the very
    loop that handler holds up, so the command could only time out.
    """

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = DEFAULT_TIMEOUT_SEC,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome: ...
