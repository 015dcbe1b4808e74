"""The workers' numbers merged into a report: throughput, latency percentiles, errors.

Percentiles are exact (nearest rank over every latency recorded), not estimated: the workers
send their raw latencies as packed doubles, 8 bytes a call.
"""

from __future__ import annotations

import array
import math
from collections import Counter
from typing import Any

from simulators.load.frames import ACTION_NAMES
from simulators.load.spec import LoadSpec


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of an ascending list; NaN when empty."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize_ms(values: list[float], scale: float = 1.0) -> dict[str, float | int]:
    s = sorted(v * scale for v in values)
    if not s:
        return {"count": 0}
    return {
        "count": len(s),
        "p50": round(quantile(s, 0.50), 3),
        "p95": round(quantile(s, 0.95), 3),
        "p99": round(quantile(s, 0.99), 3),
        "max": round(s[-1], 3),
        "mean": round(sum(s) / len(s), 3),
    }


def floats(chunks: list[bytes]) -> list[float]:
    out = array.array("d")
    for chunk in chunks:
        out.frombytes(chunk)
    return out.tolist()


def kinds(chunks: list[bytes]) -> list[int]:
    out = array.array("b")
    for chunk in chunks:
        out.frombytes(chunk)
    return out.tolist()


def sum_counters(dicts: list[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for d in dicts:
        total.update(d)
    return dict(total.most_common())


def client_sections(
    load: LoadSpec, ready: list[dict[str, Any]], results: list[dict[str, Any]]
) -> dict[str, Any]:
    """What the generator saw, from the workers' "ready" and "result" messages: the sections
    connections, calls, latency_ms, latency_ms_by_action, errors, setup and generator."""
    latency = floats([r["latency"] for r in results])
    tags = kinds([r["latency_kind"] for r in results])
    by_kind: dict[str, list[float]] = {}
    for value, tag in zip(latency, tags, strict=True):
        by_kind.setdefault(ACTION_NAMES[tag & 3], []).append(value)

    def total(key: str) -> int:
        return sum(r[key] for r in results)

    received, received_ok = total("received"), total("received_ok")
    callerrors = sum_counters([r["callerrors"] for r in results])
    started = [r["started"] for r in ready]
    setup_seconds = max(r["ended"] for r in ready) - min(started) if ready else 0.0
    return {
        "connections": {
            "requested": load.connections,
            "opened": sum(r["opened"] for r in ready),
            "booted": sum(r["booted"] for r in ready),
            "held": total("held"),
        },
        "calls": {
            "received": received,
            "received_ok": received_ok,
            "per_s": round(received / load.duration, 1),
            "ok_per_s": round(received_ok / load.duration, 1),
            "offered_per_s": load.rate if load.mode == "open" else None,
            "due": total("due"),
            "due_answered": total("latency_count"),
        },
        "latency_ms": summarize_ms(latency, 1000),
        "latency_ms_by_action": {k: summarize_ms(v, 1000) for k, v in sorted(by_kind.items())},
        "errors": {
            "callerrors": sum(callerrors.values()),
            "callerror_kinds": callerrors,
            "timeouts": total("answered_late") + total("unanswered"),
            "timeouts_answered_late": total("answered_late"),
            "unanswered": total("unanswered"),
            "disconnects": total("disconnects"),
            "lost_calls": total("lost_calls"),
            "connect_failures": sum(sum(r["connect_failures"].values()) for r in ready),
            "connect_failure_kinds": sum_counters([r["connect_failures"] for r in ready]),
            "boot_failures": sum(sum(r["boot_failures"].values()) for r in ready),
            "boot_failure_kinds": sum_counters([r["boot_failures"] for r in ready]),
            "unknown_answers": total("unknown_answers"),
        },
        "setup": {
            "seconds": round(setup_seconds, 3),
            "connect_ms": summarize_ms(floats([r["connect_ms"] for r in ready])),
            "boot_ms": summarize_ms(floats([r["boot_ms"] for r in ready])),
        },
        "generator": {
            "processes": load.processes,
            "cpu_pct": round(100 * sum(r["cpu_seconds"] for r in results) / load.duration, 1),
        },
    }


def by_ocpp_version(
    load: LoadSpec, ready: list[dict[str, Any]], results: list[dict[str, Any]]
) -> dict[str, Any]:
    """Per OCPP version: chargers requested and booted, answers per second, latency."""
    latency = floats([r["latency"] for r in results])
    tags = kinds([r["latency_kind"] for r in results])
    by_version: dict[int, list[float]] = {}
    for value, tag in zip(latency, tags, strict=True):
        by_version.setdefault(tag >> 2, []).append(value)
    out: dict[str, Any] = {}
    for vidx, version in enumerate(load.ocpp):
        received = sum(r["received_by_version"][vidx] for r in results)
        out[version] = {
            "requested": sum(1 for i in range(load.connections) if i % len(load.ocpp) == vidx),
            "booted": sum(r["booted_by_version"][vidx] for r in ready),
            "calls_per_s": round(received / load.duration, 1),
            "latency_ms": summarize_ms(by_version.get(vidx, []), 1000),
        }
    return out
