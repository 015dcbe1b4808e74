"""The per-charger command log: every command csms sent (or meant to send) and how it ended."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from csms.ports.gateway import CommandOutcome, CommandStatus

ABANDONED_AFTER_SEC = 60  # beyond the longest timeout: no caller still waits for these


@dataclass(frozen=True, kw_only=True)
class CommandRecord:
    id: int
    charger_id: str
    action: str
    request: Mapping[str, Any]
    status: CommandStatus
    response: Mapping[str, Any] | None
    error_code: str | None
    error_description: str | None
    error_details: Mapping[str, Any] | None
    requested_by: str | None
    requested_at: datetime
    answered_at: datetime | None
    timeout_sec: float


class CommandLog(Protocol):
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
        """Record a command as `sent`, before it goes out; None when no such charger exists."""
        ...

    async def settle(self, command_id: int, outcome: CommandOutcome, at: datetime) -> None:
        """Record how the command ended: its status, the answer or the error, and `answered_at`
        when the charger sent something (ANSWERED, ERROR)."""
        ...

    async def settle_abandoned(self, now: datetime) -> int:
        """Commands still `sent` more than MAX_TIMEOUT_SEC + ABANDONED_AFTER_SEC after they were
        asked for were cut short by a stop or crash of the csms: recorded as `timeout`, so the
        log never shows them as still on their way. How many."""
        ...

    async def page(
        self, charger_id: str, limit: int, offset: int
    ) -> tuple[Sequence[CommandRecord], int]:
        """A charger's commands, newest first, and how many it has; UnknownCharger if none."""
        ...
