"""The per-charger command log over SQL (`charger_commands`)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import RowMapping, func, insert, select, update

from chargepark.clock import as_utc
from chargepark.db.engine import Database
from csms.adapters.tables import charger_commands, chargers
from csms.domain.chargers import UnknownCharger
from csms.ports.command_log import ABANDONED_AFTER_SEC, CommandRecord
from csms.ports.gateway import MAX_TIMEOUT_SEC, CommandOutcome, CommandStatus

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class SqlCommandLog:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        async with self.db.engine.begin() as conn:
            known = await conn.scalar(select(chargers.c.id).where(chargers.c.id == charger_id))
            if known is None:
                return None
            result = await conn.execute(
                insert(charger_commands).values(
                    charger_id=charger_id,
                    action=action,
                    request=_dumps(payload),
                    status=str(CommandStatus.SENT),
                    requested_by=requested_by,
                    requested_at=at,
                    timeout_sec=timeout_sec,
                )
            )
            key = result.inserted_primary_key
            assert key is not None  # an INSERT's result carries the new row's key
            return int(key[0])

    async def settle(self, command_id: int, outcome: CommandOutcome, at: datetime) -> None:
        """Record how the command ended."""
        error = outcome.error
        # ERROR is always something the charger sent: a CALLERROR, or an answer we cannot use.
        charger_answered = outcome.status in (CommandStatus.ANSWERED, CommandStatus.ERROR)
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(charger_commands)
                .where(charger_commands.c.id == command_id)
                .values(
                    status=str(outcome.status),
                    response=_dumps(outcome.response) if outcome.response is not None else None,
                    error_code=error.code if error else None,
                    error_description=error.description if error else outcome.detail,
                    error_details=_dumps(error.details) if error and error.details else None,
                    answered_at=at if charger_answered else None,
                )
            )

    async def settle_abandoned(self, now: datetime) -> int:
        """Commands still `sent` long past any timeout were cut short by a stop or crash of
        the csms: recorded as timed out, so the log never shows them as still on their way."""
        cutoff = now - timedelta(seconds=MAX_TIMEOUT_SEC + ABANDONED_AFTER_SEC)
        async with self.db.engine.begin() as conn:
            result = await conn.execute(
                update(charger_commands)
                .where(
                    charger_commands.c.status == str(CommandStatus.SENT),
                    charger_commands.c.requested_at < cutoff,
                )
                .values(
                    status=str(CommandStatus.TIMEOUT),
                    error_description="cut short: csms stopped before the charger answered",
                )
            )
        return int(result.rowcount or 0)

    async def page(
        self, charger_id: str, limit: int, offset: int
    ) -> tuple[Sequence[CommandRecord], int]:
        """A charger's commands, newest first."""
        t = charger_commands
        async with self.db.engine.connect() as conn:
            if await conn.scalar(select(chargers.c.id).where(chargers.c.id == charger_id)) is None:
                raise UnknownCharger(f"no charger {charger_id!r}")
            total = await conn.scalar(
                select(func.count()).select_from(t).where(t.c.charger_id == charger_id)
            )
            rows = await conn.execute(
                select(t)
                .where(t.c.charger_id == charger_id)
                .order_by(t.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            return [_record(r._mapping) for r in rows], int(total or 0)


def _record(row: RowMapping) -> CommandRecord:
    return CommandRecord(
        id=row["id"],
        charger_id=row["charger_id"],
        action=row["action"],
        request=json.loads(row["request"]),
        status=CommandStatus(row["status"]),
        response=json.loads(row["response"]) if row["response"] is not None else None,
        error_code=row["error_code"],
        error_description=row["error_description"],
        error_details=json.loads(row["error_details"]) if row["error_details"] else None,
        requested_by=row["requested_by"],
        requested_at=as_utc(row["requested_at"]),
        answered_at=as_utc(row["answered_at"]) if row["answered_at"] is not None else None,
        timeout_sec=row["timeout_sec"],
    )
