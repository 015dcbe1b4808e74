"""Which handler failures are worth retrying soon (chargepark.events.failures)."""

from __future__ import annotations

import decimal
import sqlite3

import pytest
from sqlalchemy import exc as sa_exc

from chargepark.errors import (
    ProgrammingError,
    SchemaViolation,
    Unavailable,
    UpstreamFailed,
    UpstreamTimeout,
)
from chargepark.events.failures import DETERMINISTIC, TRANSIENT, failure_kind


class DriverError(Exception):
    """A driver's error as SQLAlchemy's asyncpg adapter keeps it: a SQLSTATE, no useful class."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"SQLSTATE {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(orig: BaseException) -> sa_exc.DBAPIError:
    """As SQLAlchemy raises it: the generic DBAPIError, the driver's error in `orig`."""
    return sa_exc.DBAPIError("INSERT ...", {}, orig)  # type: ignore[arg-type]


def caused_by(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    "error",
    [
        OverflowError("Python int too large to convert to SQLite INTEGER"),
        KeyError("energy_wh"),
        ValueError("Invalid isoformat string"),
        TypeError("'NoneType' object is not subscriptable"),
        decimal.InvalidOperation(),
        sa_exc.IntegrityError("INSERT ...", {}, sqlite3.IntegrityError("NOT NULL")),
        wrapped(DriverError("22003")),  # numeric value out of range
        wrapped(caused_by(DriverError("22000"), OverflowError("value out of int64 range"))),
        wrapped(DriverError("23505")),  # a unique violation other than the inbox's
        wrapped(DriverError("42703")),  # undefined column: the code is wrong
        SchemaViolation("ChargingStopped: 'energy_wh' is a required property"),
        ProgrammingError("a bug of ours"),
        caused_by(ProgrammingError("a bug of ours"), ConnectionResetError()),  # outermost decides
    ],
    ids=repr,
)
def test_a_fault_in_the_data_or_the_code_is_deterministic(error):
    assert failure_kind(error) == DETERMINISTIC


@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError("connection reset by peer"),
        TimeoutError(),
        sa_exc.OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked")),
        wrapped(DriverError("40001")),  # serialization failure
        wrapped(DriverError("40P01")),  # deadlock detected
        wrapped(DriverError("55P03")),  # lock not available (lock_timeout)
        wrapped(DriverError("57P01")),  # admin shutdown
        wrapped(DriverError("08006")),  # connection failure
        sa_exc.DBAPIError("SELECT 1", {}, ValueError("closed"), connection_invalidated=True),
        RuntimeError("nobody knows"),  # unclassified: retried the longer way
        Unavailable("accounts did not answer"),
        caused_by(UpstreamFailed("CALLERROR InternalError"), ValueError("bad frame")),
        UpstreamTimeout("the charger did not answer in 30 s"),
    ],
    ids=repr,
)
def test_a_failure_of_the_moment_is_transient(error):
    assert failure_kind(error) == TRANSIENT
