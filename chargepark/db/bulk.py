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

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import asyncpg
from sqlalchemy import Table, insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler

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
        driver = await _driver(conn)
        await driver.executemany(sql, [tuple(row[k] for k in order) for row in same])


async def _driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under `conn` (an open connection always has one)."""
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    return driver


async def is_closed(conn: AsyncConnection) -> bool:
    """Whether the connection's socket is known closed, without a round trip: asyncpg marks it
    closed as soon as the loop sees the socket's end."""
    if conn.invalidated:
        return True
    try:
        return bool((await _driver(conn)).is_closed())
    except DBAPIError:
        return True


async def live_connection(engine: AsyncEngine) -> AsyncConnection:
    """A connection from a pool that does not ping before a checkout (the writers' pool: a
    ping is a round trip), whose socket is not known closed. One the server closed meanwhile
    (a restart, an idle timeout) is dropped and another taken; otherwise SQLAlchemy, which does
    not see statements sent past it, would hand it out again and again. The caller closes it."""
    # The writers' pool is a QueuePool (AsyncAdaptedQueuePool): the base Pool has no size().
    for _ in range(engine.pool.size() + 8):  # type: ignore[attr-defined]
        conn = await engine.connect()
        if not await is_closed(conn):
            return conn
        await conn.invalidate()
        await conn.close()
    raise ConnectionError("no live database connection in the writers' pool")


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[tuple[AsyncConnection, Any]]:
    """A live pooled connection (`live_connection`) and its driver (asyncpg) connection, for
    statements sent past SQLAlchemy."""
    conn = await live_connection(engine)
    try:
        raw = await _driver(conn)
        try:
            yield conn, raw
        except BaseException as exc:
            # Lost while in use, or left mid-protocol (a statement cancelled or cut off whose
            # answer never came): not back into the pool, where the next user would trip on it.
            if raw.is_closed() or not answered(exc):
                await conn.invalidate()
            raise
    finally:
        await conn.close()


def answered(exc: BaseException) -> bool:
    """Whether PostgreSQL answered the statement with this error (a constraint violated, bad
    SQL...), leaving the connection fit for the next one."""
    # A FATAL error (the backend terminated, an administrator's shutdown) ends the session.
    return (
        isinstance(exc, asyncpg.PostgresError)
        and not isinstance(exc, asyncpg.PostgresConnectionError)
        and getattr(exc, "severity", None) not in ("FATAL", "PANIC")
    )


async def insert_committed(
    engine: AsyncEngine,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    also: tuple[Table, Sequence[Mapping[str, Any]]] | None = None,
) -> None:
    """Insert `rows` into `table`, and `also`'s rows into its table, in one transaction of
    their own: all of them or none.

    On PostgreSQL, rows alone go in one binary COPY (an implicit transaction, no BEGIN/COMMIT
    round trips; far less work for PostgreSQL than one INSERT per row). With `also`, both go
    in one statement, `WITH a AS (INSERT ... SELECT * FROM unnest($1::type[], ...)) INSERT ...
    SELECT * FROM unnest(...)`: one round trip, atomic by itself, where BEGIN, an INSERT, the
    COPY (two round trips) and COMMIT took five. The arrays cost the client more than the COPY's
    records (measured, 400 meter samples: ~1.5 ms against ~0.55 ms of CPU), but under load
    the round trips cost more: each waits for PostgreSQL, which shares the cores, and then for
    its turn on a busy event loop (measured at 100 chargers, closed loop: MeterValues p50 22 ms
    against 32 ms). Elsewhere (or when rows name different columns): executemany inside
    BEGIN/COMMIT."""
    extra_table, extra = also if also is not None else (None, ())
    if rows and engine.dialect.name == "postgresql":
        columns = tuple(rows[0])
        extra_columns = tuple(extra[0]) if extra else ()
        if all(tuple(row) == columns for row in rows) and all(
            tuple(row) == extra_columns for row in extra
        ):
            async with driver_connection(engine) as (conn, raw):
                if extra_table is None or not extra:
                    await raw.copy_records_to_table(
                        table.name,
                        records=[tuple(row.values()) for row in rows],
                        columns=list(columns),
                        schema_name=table.schema,
                    )
                    return
                first, first_args = _insert_unnest(conn, table, columns, rows)
                second, second_args = _insert_unnest(
                    conn, extra_table, extra_columns, extra, first=len(first_args) + 1
                )
                # A data-modifying WITH runs to completion whether or not the rest reads it.
                await raw.execute(f"WITH a AS ({first}) {second}", *first_args, *second_args)
            return
    async with engine.begin() as conn:
        await executemany(conn, insert(table), rows)
        if extra_table is not None and extra:
            await executemany(conn, insert(extra_table), extra)


_unnest_sql: dict[tuple[Table, tuple[str, ...], int, tuple[bool, ...]], str] = {}


def _insert_unnest(
    conn: AsyncConnection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[Mapping[str, Any]],
    *,
    first: int = 1,
) -> tuple[str, list[Any]]:
    """`INSERT INTO table (columns) SELECT ... FROM unnest($1::type[], ...)` and its arguments,
    numbered from `first`: one array per column, but a column with one value in every row
    (a batch's EVSE, connector, an unused field) is one scalar instead. asyncpg checks every
    array element in Python (several `isinstance` against ABCs); `list.count` compares them
    in C, far cheaper."""
    values = [[row[c] for row in rows] for c in columns]
    constant = [v.count(v[0]) == len(v) for v in values]
    if all(constant) and len(rows) > 1:
        constant[0] = False  # something to unnest, to give the row count
    mask = tuple(constant)
    args = [v[0] if const else v for v, const in zip(values, mask, strict=True)]
    key = (table, columns, first, mask)
    sql = _unnest_sql.get(key)
    if sql is None:
        preparer = conn.dialect.identifier_preparer
        # Cast to the type without its length (VARCHAR, not VARCHAR(48)): an explicit cast
        # truncates, the assignment to the column refuses a value too long, as COPY does.
        types = [table.c[name].type.compile(dialect=conn.dialect).split("(")[0] for name in columns]
        names = ", ".join(preparer.quote(name) for name in columns)
        target = f"INSERT INTO {preparer.format_table(table)} ({names})"
        scalars = [f"${i}::{t}" for i, t in enumerate(types, first)]
        if all(mask):  # one row
            sql = f"{target} VALUES ({', '.join(scalars)})"
        else:
            varying = [i for i, const in enumerate(mask) if not const]
            arrays = ", ".join(f"{scalars[i]}[]" for i in varying)
            aliases = ", ".join(f"c{i}" for i in varying)
            picks = ", ".join(scalars[i] if const else f"u.c{i}" for i, const in enumerate(mask))
            sql = f"{target} SELECT {picks} FROM unnest({arrays}) AS u({aliases})"
        if len(_unnest_sql) < _MAX_PLANS:
            _unnest_sql[key] = sql
    return sql, args


def _driver_plan(
    conn: AsyncConnection, statement: Executable, keys: tuple[str, ...]
) -> tuple[str, tuple[str, ...]] | None:
    # Keyed by the statement itself (held, so its identity is never reused); the hot paths pass
    # module-level statements, so a handful of plans serve the whole process.
    cache_key = (statement, keys)
    if cache_key in _plans:
        return _plans[cache_key]
    clause = cast(ClauseElement, statement)  # an insert or update: it compiles
    compiled = cast(  # what a statement compiles to (the DDL compiler is the other kind)
        SQLCompiler,
        clause.compile(dialect=conn.dialect, column_keys=list(keys), for_executemany=True),
    )
    order = tuple(compiled.positiontup or ())
    usable = set(order) <= set(keys) and not any(
        compiled._bind_processors.get(name) for name in order
    )
    plan = (compiled.string, order) if usable else None
    if len(_plans) < _MAX_PLANS:
        _plans[cache_key] = plan
    return plan
