"""The parking benchmark still runs end to end (a one-second run; no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.services import require_postgres

pytestmark = pytest.mark.postgres


def test_a_short_benchmark_run_parks_and_leaves_and_reports(tmp_path):
    require_postgres()
    report = tmp_path / "report.json"
    args = ["--duration", "1", "--warmup", "0.5", "--concurrency", "2", "--slots", "20"]
    result = subprocess.run(
        [sys.executable, "-m", "bench.parking_load", *args, "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(report.read_text())
    assert set(figures["statuses"]) == {"200"}
    assert figures["requests_per_s"] > 0 and figures["p99_ms"] > 0
    assert {"machine", "command", "server_cpu_percent"} <= set(figures)
