"""Time as a port: domain code is handed `now`, tests pass a FixedClock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def isoformat_utc(ts: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, the one timestamp format of events and APIs."""
    if ts.tzinfo is None:
        raise ValueError("naive datetime: every timestamp in chargepark is UTC-aware")
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def as_utc(ts: datetime) -> datetime:
    """A datetime read back from the database, made UTC-aware (SQLite returns naive ones for
    timezone-aware columns; chargepark stores UTC only)."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
