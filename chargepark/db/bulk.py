"""Many rows through one statement, without SQLAlchemy's per-row work where it adds nothing.

SQLAlchemy processes every row of an executemany in Python (bind processing, parameter
construction) before asyncpg sees it; for the group commits of the OCPP hot path that was most
of the database CPU. On PostgreSQL, when no column needs a bind processor (plain text, numbers,
timestamps, which asyncpg encodes itself), the statement is compiled once and its rows go to
asyncpg's `executemany` as tuples, inside the same transaction. Anything else takes the usual
SQLAlchemy path, which gives the same result. Rows must then carry values the driver takes
as they are (str, int, aware datetime), as they do for the tables written here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

_MAX_PLANS = 256
_plans: dict[tuple[Executable, tuple[str, ...]], tuple[str, tuple[str, ...]] | None] = {}


async def executemany(
    conn: AsyncConnection, statement: Executable, rows: Sequence[Mapping[str, Any]]
) -> None:
    # An executemany binds the columns the first row names; rows naming others go separately
    # rather than losing values.
    by_keys: dict[tuple[str, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        by_keys.setdefault(tuple(row), []).append(row)
    for keys, same in by_keys.items():
        plan = _driver_plan(conn, statement, keys) if conn.dialect.name == "postgresql" else None
        if plan is None:
            await conn.execute(statement, same)
            continue
        sql, order = plan
        raw = await conn.get_raw_connection()
        await raw.driver_connection.executemany(sql, [tuple(row[k] for k in order) for row in same])


async def insert_committed(
    engine: AsyncEngine,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
) -> None:
    """Insert `rows` into `table` in a transaction of their own, with whatever `also` writes
    on the same connection. On PostgreSQL the rows go in one binary COPY, where PostgreSQL
    spends far less than on one INSERT per row; alone, it is an implicit transaction (all rows
    or none) and no BEGIN/COMMIT round trips wait their turn on a busy loop."""
    if rows and engine.dialect.name == "postgresql":
        columns = tuple(rows[0])
        if all(tuple(row) == columns for row in rows):
            async with engine.begin() if also else engine.connect() as conn:
                if also is not None:
                    # First: its statement opens the transaction the COPY then joins.
                    await also(conn)
                raw = await conn.get_raw_connection()
                await raw.driver_connection.copy_records_to_table(
                    table.name,
                    records=[tuple(row.values()) for row in rows],
                    columns=list(columns),
                    schema_name=table.schema,
                )
            return
    async with engine.begin() as conn:
        await executemany(conn, insert(table), rows)
        if also is not None:
            await also(conn)


def _driver_plan(
    conn: AsyncConnection, statement: Executable, keys: tuple[str, ...]
) -> tuple[str, tuple[str, ...]] | None:
    # Keyed by the statement itself (held, so its identity is never reused); the hot paths pass
    # module-level statements, so a handful of plans serve the whole process.
    cache_key = (statement, keys)
    if cache_key in _plans:
        return _plans[cache_key]
    compiled = statement.compile(dialect=conn.dialect, column_keys=list(keys), for_executemany=True)
    order = tuple(compiled.positiontup or ())
    usable = set(order) <= set(keys) and not any(
        compiled._bind_processors.get(name) for name in order
    )
    plan = (compiled.string, order) if usable else None
    if len(_plans) < _MAX_PLANS:
        _plans[cache_key] = plan
    return plan
