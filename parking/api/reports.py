"""History, occupancy over time and exports of a lot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from aiohttp import web

from chargepark.auth import requires
from chargepark.clock import isoformat_utc
from chargepark.errors import Invalid
from chargepark.http.openapi import operation
from chargepark.http.query import TIME_PARAM, int_param, query_int
from parking.api.common import (
    READ,
    check_range,
    iso,
    lot_id,
    operators_only,
    queries,
    query_flag,
    query_time,
    routes,
)
from parking.api.lots import capacity_json
from parking.api.occupancy import status_filter
from parking.api.schemas import REGNUM
from parking.domain import normalize_regnum
from parking.exports import HISTORY_COLUMNS, STATUS_COLUMNS, csv_chunks, json_chunks
from parking.queries import HistoryFilter, history_query, history_row, status_query, status_row

TAGS = ["history"]
MAX_BUCKETS = 1000


@routes.get("/lots/{lot_id}/history")
@requires(READ)
@operation(
    "Every park and leave, oldest first: from <= ts < to, one regnum; a page of `limit` after "
    "the event id `after` (the answer's `next_after`)",
    responses={200: "OK", 403: "A customer's token", 404: "No such lot", 422: "Bad filter"},
    tags=TAGS,
    query={
        "from": TIME_PARAM,
        "to": TIME_PARAM,
        "regnum": REGNUM,
        "limit": int_param(1, 1000),
        "after": int_param(0),
    },
)
async def history(request: web.Request) -> web.Response:
    operators_only(request)
    limit = query_int(request, "limit", 100, low=1, high=1000)
    after = query_int(request, "after", 0)
    rows = await queries(request).history(lot_id(request), history_filter(request), limit, after)
    return web.json_response(
        {
            "items": [{k: iso(v) if k in _TIMES else v for k, v in r.items()} for r in rows],
            "next_after": rows[-1]["id"] if len(rows) == limit else None,
        }
    )


@routes.get("/lots/{lot_id}/occupancy")
@requires(READ)
@operation(
    "Occupancy now, and over time from the history: per bucket of `bucket_sec` in [from, to) "
    "(default the last 24 hours by the hour), the mean and peak vehicles parked and their "
    "percent of the slots in service now",
    responses={200: "OK", 404: "No such lot", 422: "Bad range or bucket"},
    tags=TAGS,
    query={"from": TIME_PARAM, "to": TIME_PARAM, "bucket_sec": int_param(60, 366 * 86400)},
)
async def occupancy(request: web.Request) -> web.Response:
    bucket = query_int(request, "bucket_sec", 3600, low=60, high=366 * 86400)
    until = query_time(request, "to") or queries(request).clock.now()
    since = query_time(request, "from") or until - timedelta(days=1)
    check_range(since, until)
    if since == until or (until - since).total_seconds() / bucket > MAX_BUCKETS:
        raise Invalid(f"from..to must span 1 to {MAX_BUCKETS} buckets of bucket_sec")
    capacity, series = await queries(request).occupancy_series(
        lot_id(request), since, until, bucket
    )
    return web.json_response(
        {
            "lot_id": lot_id(request),
            "now": capacity_json(capacity),
            "from": isoformat_utc(since),
            "to": isoformat_utc(until),
            "bucket_sec": bucket,
            "series": [
                {k: iso(v) if k in ("from", "to") else v for k, v in b.items()} for b in series
            ],
        }
    )


@routes.get("/lots/{lot_id}/export.csv")
@requires(READ)
@operation(
    "Current status as CSV (RFC 4180, formula-safe cells); `history=1` with from, to and "
    "regnum for the occupancy history. Streamed",
    responses={200: "text/csv", 403: "A customer's token", 404: "No such lot", 422: "Bad filter"},
    tags=TAGS,
)
async def export_csv(request: web.Request) -> web.StreamResponse:
    columns, rows, what = await _export(request)
    return await _stream(
        request, "text/csv", f"{lot_id(request)}-{what}.csv", csv_chunks(columns, rows)
    )


@routes.get("/lots/{lot_id}/export.json")
@requires(READ)
@operation(
    "As export.csv, in JSON: {lot_id, export, rows: [...]}. Streamed",
    responses={200: "OK", 403: "A customer's token", 404: "No such lot", 422: "Bad filter"},
    tags=TAGS,
)
async def export_json(request: web.Request) -> web.StreamResponse:
    columns, rows, what = await _export(request)
    head = {"lot_id": lot_id(request), "export": what}
    return await _stream(
        request,
        "application/json",
        f"{lot_id(request)}-{what}.json",
        json_chunks(head, columns, rows),
    )


_TIMES = ("ts", "arrived_at", "recorded_at")


def history_filter(request: web.Request) -> HistoryFilter:
    since, until = query_time(request, "from"), query_time(request, "to")
    check_range(since, until)
    raw = request.query.get("regnum")
    return HistoryFilter(since, until, normalize_regnum(raw) if raw is not None else None)


async def _export(
    request: web.Request,
) -> tuple[tuple[str, ...], AsyncIterator[dict[str, Any]], str]:
    """Everything that can fail is checked here, before the response starts: once streaming,
    an error can no longer become a problem+json answer."""
    operators_only(request)
    lot = lot_id(request)
    q = queries(request)
    if query_flag(request, "history"):
        query = history_query(lot, history_filter(request))
        await q.require_lot(lot)
        return HISTORY_COLUMNS, _rows(q.stream(query), history_row), "history"
    query = status_query(lot, status_filter(request))
    await q.require_lot(lot)
    return STATUS_COLUMNS, _rows(q.stream(query), status_row), "status"


async def _rows(rows: AsyncIterator[Any], shape: Any) -> AsyncIterator[dict[str, Any]]:
    async for row in rows:
        yield shape(row)


async def _stream(
    request: web.Request, content_type: str, filename: str, chunks: AsyncIterator[bytes]
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": f"{content_type}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        }
    )
    await response.prepare(request)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response
