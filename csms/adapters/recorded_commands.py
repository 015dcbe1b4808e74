"""A command sender that keeps the command log: wraps whichever sender does the sending.

The row is written before the command goes out, so a command cut short by a crash still shows
(as `sent`); an unknown charger is answered without a row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from chargepark.clock import Clock
from csms.ports.command_log import CommandLog
from csms.ports.gateway import (
    DEFAULT_TIMEOUT_SEC,
    MAX_TIMEOUT_SEC,
    CommandOutcome,
    CommandSender,
    CommandStatus,
)


class RecordedCommandPort:
    def __init__(self, inner: CommandSender, history: CommandLog, clock: Clock) -> None:
        self.inner = inner
        self.history = history
        self.clock = clock

    async def send(
        self,
        charger_id: str,
        action: str,
        payload: Mapping[str, Any],
        timeout_sec: float = DEFAULT_TIMEOUT_SEC,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        command_id = await self.history.open(
            charger_id,
            action,
            payload,
            requested_by=requested_by,
            timeout_sec=min(timeout_sec, MAX_TIMEOUT_SEC),
            at=self.clock.now(),
        )
        if command_id is None:
            return CommandOutcome(
                CommandStatus.UNKNOWN, action, detail=f"no charger {charger_id!r}"
            )
        try:
            outcome = await self.inner.send(
                charger_id, action, payload, timeout_sec, requested_by=requested_by
            )
        except (Exception, asyncio.CancelledError):
            # Shutdown or a bug: the command may have gone out, so say so rather than leave
            # the row `sent` for ever.
            gave_up = CommandOutcome(
                CommandStatus.TIMEOUT, action, detail="csms stopped waiting for the answer"
            )
            await asyncio.shield(self.history.settle(command_id, gave_up, self.clock.now()))
            raise
        outcome = replace(outcome, command_id=command_id)
        await self.history.settle(command_id, outcome, self.clock.now())
        return outcome
