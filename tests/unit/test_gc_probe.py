"""bench.gc_probe times the garbage collections of the module it runs, and can undo its tuning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROGRAM = "import gc; gc.freeze(); gc.set_threshold(5); [gc.collect() for _ in range(3)]"


def probe(tmp_path: Path, *flags: str) -> dict:
    out = tmp_path / "gc.json"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.gc_probe",
            str(out),
            *flags,
            "-m",
            "timeit",
            "-n",
            "1",
            PROGRAM,
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return json.loads(out.read_text())


def test_every_collection_is_timed_and_its_share_of_cpu_reported(tmp_path):
    stats = probe(tmp_path)
    assert stats["by_generation"]["2"]["collections"] >= 3
    assert stats["thresholds_at_exit"][0] == 5 and stats["frozen_objects"] > 0
    assert 0 <= stats["gc_share_of_cpu"] < 1


def test_the_programs_own_tuning_can_be_undone(tmp_path):
    stats = probe(tmp_path, "--keep-gc-defaults")
    assert stats["thresholds_at_exit"][0] == 700 and stats["frozen_objects"] == 0
