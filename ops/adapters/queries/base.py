"""What the read-side queries share: time buckets in SQL on PostgreSQL and SQLite alike, and
the connection and clock they read with."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func
from sqlalchemy.sql.elements import ColumnElement

from chargepark.clock import Clock
from chargepark.db.engine import Database

# A meter silent for longer than this before a period has no baseline reading in it: its first
# reading in the period starts the count (bounds the scan behind fleet-wide energy figures).
BASELINE_LOOKBACK = timedelta(days=7)


def epoch_of(column: Any, dialect: str) -> ColumnElement[Any]:
    """Whole seconds since 1970 of a timestamp column, truncated (not rounded)."""
    if dialect == "postgresql":
        return func.floor(func.extract("epoch", column))
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC); strftime('%s') would round the fraction.
    return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)


def bucket_of(column: Any, since: datetime, bucket_sec: int, dialect: str) -> ColumnElement[Any]:
    """The index of the `bucket_sec` bucket from `since` (whole seconds) a timestamp falls in;
    for timestamps at or after `since`."""
    since_epoch = int(since.timestamp())
    if dialect == "postgresql":
        offset = func.extract("epoch", column) - since_epoch
        return cast(func.floor(offset / bucket_sec), Integer)
    # integer division: the floor, for the offsets >= 0 this is used on
    return cast(epoch_of(column, dialect) - since_epoch, Integer) // bucket_sec


class QueryBase:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    @property
    def dialect(self) -> str:
        return self.db.dialect
