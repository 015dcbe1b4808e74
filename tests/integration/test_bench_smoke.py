"""The OCPP load benchmark still runs: its frames (simulators.load's) are valid OCPP and a tiny
run of bench.ocpp_load reports numbers.

No timing is asserted; bench/README.md says how to measure for real.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from ocpp.messages import Call, validate_payload

from simulators.load.frames import ACTION_NAMES, BOOT, HEARTBEAT, METER, STATUS, Frames

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_every_frame_is_a_valid_call(version: str) -> None:
    frames = Frames(version)
    texts = [frames.boot(1, 42)] + [
        frames.call(kind, 2 + kind, 7, 1_234_567, cycle)
        for kind in (HEARTBEAT, STATUS, METER)
        for cycle in (0, 1)
    ]
    for text in texts:
        kind_id, unique_id, action, payload = json.loads(text)
        assert kind_id == 2
        assert action in ACTION_NAMES
        await validate_payload(Call(unique_id, action, payload), version)
    assert json.loads(frames.boot(1, 42))[2] == ACTION_NAMES[BOOT]


def test_a_tiny_run_against_the_bare_responder_reports_every_field(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.ocpp_load",
            "--target=bare",
            "--connections=5",
            "--duration=1",
            "--warmup=0",
            "--settle=0.2",
            "--json",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["settings"]["connections"] == 5
    assert report["machine"]["nproc"] >= 1
    (run,) = report["runs"]
    assert run["target"] == "bare"
    assert run["connections"] == {"requested": 5, "opened": 5, "booted": 5, "held": 5}
    assert run["calls"]["received"] > 0
    assert run["calls"]["per_s"] > 0
    assert run["calls"]["due_answered"] > 0
    for key in ("p50", "p95", "p99", "max"):
        assert run["latency_ms"][key] >= 0
    assert set(run["latency_ms_by_action"]) == {
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
    }
    errors = run["errors"]
    for key in ("callerrors", "timeouts", "disconnects", "connect_failures", "boot_failures"):
        assert errors[key] == 0, errors
    server = run["server"]
    for key in ("rss_kib_before", "rss_kib_connected", "rss_kib_after"):
        assert server[key] > 0
    assert "rss_kib_per_connection" in server
    assert "calls/s" in done.stdout
