from __future__ import annotations

import sys

import pytest

from bench import energy_allocation


def test_the_allocation_benchmark_still_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["energy_allocation", "--sessions", "30", "--repeat", "2"])
    energy_allocation.main()
    out = capsys.readouterr().out
    assert "site: 30 sessions" in out
    for name in ("allocate", "plan_transition", "clip_raises"):
        assert f"{name} " in out
