"""What every billing SQL repository shares: its unit of work's session and dialect."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from chargepark.clock import as_utc
from chargepark.db.uow import UnitOfWork


class SqlRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    @property
    def session(self) -> AsyncSession:
        return self.uow.session

    def upsert(self, table: Any) -> Any:
        """INSERT with ON CONFLICT, in the database's dialect."""
        return (postgresql if self.uow.db.dialect == "postgresql" else sqlite).insert(table)


def rowcount(result: Any) -> int:
    """Rows an UPDATE matched (a CursorResult's count; the Result type does not declare it)."""
    return int(result.rowcount)


def utc_or_none(ts: datetime | None) -> datetime | None:
    """A nullable time column's value, as UTC."""
    return None if ts is None else as_utc(ts)
