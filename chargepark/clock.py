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


class NotATime(ValueError):
    """Text that is not an ISO-8601 / RFC 3339 time with a zone. Edges turn it into their own
    answer (problem+json 422, a CALLERROR, a one-line CLI message)."""


def parse_utc(text: str) -> datetime:
    """The one reader of timestamps: ISO-8601 with a zone (`Z`, `z` or `+hh:mm`), as UTC.
    A time without a zone is refused rather than guessed: chargepark stores UTC only."""
    if not isinstance(text, str):
        raise NotATime(f"{text!r} is not a timestamp")
    try:
        ts = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise NotATime(f"{text[:64]!r} is not an ISO-8601 timestamp") from None
    if ts.tzinfo is None:
        raise NotATime(f"{text[:64]!r} has no UTC offset (add Z or +hh:mm)")
    try:
        return ts.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is before the first UTC instant
        raise NotATime(f"{text[:64]!r} is beyond the years a UTC time can have") from None
