"""Run a Python module with its garbage collections timed; write what they cost at exit.

    python -m bench.gc_probe OUT.json [--keep-gc-defaults] -m chargepark serve csms ...

Every collection is timed through `gc.callbacks`. At exit OUT.json gets, per generation, the
number of collections, their total and longest pause, and the process's CPU time, so the
collector's share of it follows. `--keep-gc-defaults` turns the server's own GC tuning
(`gc.freeze`, `gc.set_threshold`) into no-ops, to measure what it changes.
`ocpp_load --gc-stats` starts the server this way.
"""

from __future__ import annotations

import atexit
import gc
import json
import resource
import runpy
import sys
import time


def main() -> None:
    argv = sys.argv[1:]
    out = argv.pop(0)
    keep_defaults = argv[:1] == ["--keep-gc-defaults"]
    if keep_defaults:
        argv.pop(0)
    if argv[:1] != ["-m"] or len(argv) < 2:
        raise SystemExit(
            "usage: python -m bench.gc_probe OUT.json [--keep-gc-defaults] -m MODULE ..."
        )
    module = argv[1]
    stats = {g: {"collections": 0, "total_ms": 0.0, "max_ms": 0.0} for g in (0, 1, 2)}
    long_pauses: list[tuple[float, int, float]] = []
    began = time.monotonic()
    started = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        pause = (time.perf_counter() - started[0]) * 1000
        s = stats[info["generation"]]
        s["collections"] += 1
        s["total_ms"] += pause
        s["max_ms"] = max(s["max_ms"], pause)
        if pause >= 50:
            long_pauses.append((round(time.monotonic() - began, 1), info["generation"], pause))

    def report() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000
        gc_ms = sum(s["total_ms"] for s in stats.values())
        doc = {
            "gc_tuning": "defaults kept" if keep_defaults else "as the server sets it",
            "thresholds_at_exit": gc.get_threshold(),
            "frozen_objects": gc.get_freeze_count(),
            "by_generation": stats,
            "gc_ms": round(gc_ms, 1),
            "process_cpu_ms": round(cpu_ms, 1),
            "gc_share_of_cpu": round(gc_ms / cpu_ms, 4) if cpu_ms else None,
            "pauses_of_50ms_or_more": [
                {"at_s": at, "generation": g, "ms": round(ms, 1)} for at, g, ms in long_pauses
            ],
        }
        with open(out, "w") as f:
            json.dump(doc, f, indent=1)

    if keep_defaults:
        gc.freeze = lambda: None  # type: ignore[assignment]
        gc.set_threshold = lambda *_: None  # type: ignore[assignment]
    gc.callbacks.append(timed)
    atexit.register(report)
    sys.argv = [module, *argv[2:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
