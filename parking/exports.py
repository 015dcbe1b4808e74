"""Exports as CSV (RFC 4180) and JSON, produced a chunk at a time from a row iterator, so a
large history never sits in memory whole.

CSV cells are made safe to open in a spreadsheet: a text cell starting with `=`, `+`, `-`, `@`,
tab or carriage return would be read as a formula (OWASP "CSV injection"), so it gets a leading
apostrophe. Level names, charger ids and lot names are operators' free text and reach exports.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from chargepark.clock import isoformat_utc

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_BYTES = 64 * 1024

STATUS_COLUMNS = (
    "slot_ui",
    "level",
    "fits",
    "ev_bay",
    "in_service",
    "charger_id",
    "connector_id",
    "regnum",
    "kind",
    "fuel",
    "since",
)
HISTORY_COLUMNS = (
    "id",
    "action",
    "ts",
    "slot_ui",
    "level",
    "regnum",
    "kind",
    "fuel",
    "ev_bay",
    "charger_id",
    "connector_id",
    "arrived_at",
    "duration_sec",
    "recorded_at",
)


def neutralize(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return isoformat_utc(value)
    if isinstance(value, int | float):
        return str(value)  # a number is data, even a negative one
    return neutralize(str(value))


def json_value(value: Any) -> Any:
    return isoformat_utc(value) if isinstance(value, datetime) else value


Row = dict[str, Any]


async def csv_chunks(columns: Sequence[str], rows: AsyncIterator[Row]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    async for row in rows:
        writer.writerow([csv_cell(row.get(c)) for c in columns])
        if buffer.tell() >= CHUNK_BYTES:
            yield _drain(buffer)
    yield _drain(buffer)


async def json_chunks(
    head: dict[str, Any], columns: Sequence[str], rows: AsyncIterator[Row]
) -> AsyncIterator[bytes]:
    """`{...head, "rows": [...]}`, the rows written as they come."""
    opening = json.dumps(head, separators=(",", ":"))[:-1]
    parts = [opening + (',"rows":[' if head else '"rows":[')]
    size, first = 0, True
    encode: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":")).encode
    async for row in rows:
        text = encode({c: json_value(row.get(c)) for c in columns})
        parts.append(text if first else "," + text)
        first = False
        size += len(text)
        if size >= CHUNK_BYTES:
            yield "".join(parts).encode()
            parts, size = [], 0
    parts.append("]}")
    yield "".join(parts).encode()


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return data
