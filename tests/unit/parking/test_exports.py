"""Exports: RFC 4180 CSV whose cells a spreadsheet will not run, and streamed JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from parking.exports import csv_cell, csv_chunks, json_chunks, neutralize


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_a_cell_that_would_be_a_formula_is_neutralized(text):
    assert neutralize(text) == "'" + text


def test_plain_cells_and_numbers_are_kept():
    assert csv_cell("P1") == "P1"
    assert csv_cell(-3) == "-3"
    assert csv_cell(None) == ""
    assert csv_cell(True) == "true"
    assert csv_cell(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05Z"


async def rows(items):
    for item in items:
        yield item


async def test_csv_is_rfc4180_with_crlf_and_quoting():
    data = [{"a": 'say "hi", then\nleave', "b": "=cmd"}] * 3000
    out = b"".join([c async for c in csv_chunks(("a", "b"), rows(data))]).decode()
    assert out.startswith("a,b\r\n")
    parsed = list(csv.reader(io.StringIO(out, newline="")))
    assert parsed[1] == ['say "hi", then\nleave', "'=cmd"]
    assert len(parsed) == 3001


async def test_json_export_is_one_document_however_many_chunks():
    data = [{"n": i, "at": datetime(2026, 1, 1, tzinfo=UTC)} for i in range(10_000)]
    chunks = [c async for c in json_chunks({"lot_id": "A1"}, ("n", "at"), rows(data))]
    assert len(chunks) > 1
    doc = json.loads(b"".join(chunks))
    assert doc["lot_id"] == "A1" and len(doc["rows"]) == 10_000
    assert doc["rows"][0] == {"n": 0, "at": "2026-01-01T00:00:00Z"}
    empty = json.loads(b"".join([c async for c in json_chunks({}, ("n",), rows([]))]))
    assert empty == {"rows": []}
