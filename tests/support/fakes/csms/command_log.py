"""The command log in memory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from csms.domain.chargers import UnknownCharger
from csms.ports.command_log import ABANDONED_AFTER_SEC, CommandRecord
from csms.ports.gateway import MAX_TIMEOUT_SEC, CommandOutcome, CommandStatus


class InMemoryCommandLog:
    def __init__(self, chargers: Iterable[str] = ()) -> None:
        self.chargers = set(chargers)  # the registered chargers
        self.records: dict[int, CommandRecord] = {}

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
        if charger_id not in self.chargers:
            return None
        command_id = len(self.records) + 1
        self.records[command_id] = CommandRecord(
            id=command_id,
            charger_id=charger_id,
            action=action,
            request=dict(payload),
            status=CommandStatus.SENT,
            response=None,
            error_code=None,
            error_description=None,
            error_details=None,
            requested_by=requested_by,
            requested_at=at,
            answered_at=None,
            timeout_sec=timeout_sec,
        )
        return command_id

    async def settle(self, command_id: int, outcome: CommandOutcome, at: datetime) -> None:
        error = outcome.error
        answered = outcome.status in (CommandStatus.ANSWERED, CommandStatus.ERROR)
        self.records[command_id] = replace(
            self.records[command_id],
            status=outcome.status,
            response=dict(outcome.response) if outcome.response is not None else None,
            error_code=error.code if error else None,
            error_description=error.description if error else outcome.detail,
            error_details=dict(error.details) if error and error.details else None,
            answered_at=at if answered else None,
        )

    async def settle_abandoned(self, now: datetime) -> int:
        cutoff = now - timedelta(seconds=MAX_TIMEOUT_SEC + ABANDONED_AFTER_SEC)
        settled = 0
        for command_id, record in self.records.items():
            if record.status is CommandStatus.SENT and record.requested_at < cutoff:
                self.records[command_id] = replace(
                    record,
                    status=CommandStatus.TIMEOUT,
                    error_description="cut short: csms stopped before the charger answered",
                )
                settled += 1
        return settled

    async def page(
        self, charger_id: str, limit: int, offset: int
    ) -> tuple[Sequence[CommandRecord], int]:
        if charger_id not in self.chargers:
            raise UnknownCharger(f"no charger {charger_id!r}")
        mine = sorted(
            (r for r in self.records.values() if r.charger_id == charger_id),
            key=lambda r: -r.id,
        )
        return mine[offset : offset + limit], len(mine)
