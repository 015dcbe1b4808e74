"""The column types every service's tables share: one definition, so a store never carries its
own copy (and SQLite and PostgreSQL get the same mapping everywhere).

Migrations keep their own frozen copies: a migration describes the schema as it was.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, DateTime, Integer

# A point in time, stored with its zone; chargepark writes UTC only (read back with
# chargepark.clock.as_utc: SQLite returns naive datetimes).
UTC_TIMESTAMP = DateTime(timezone=True)

# An auto-incremented id of a long-lived log: SQLite only auto-increments INTEGER PRIMARY KEY;
# PostgreSQL wants BIGINT.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")
