"""The report as text: a table of the numbers that matter, then the details worth a line."""

from __future__ import annotations

import contextlib
import math
import os
import platform
import resource
from typing import Any


def fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def client_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows from the client-side sections (see `stats.client_sections`)."""
    c, lat, err, setup = run["connections"], run["latency_ms"], run["errors"], run["setup"]
    return [
        ("connections held", f"{c['held']:,}/{c['requested']:,}"),
        ("calls/s (answers)", fmt(run["calls"]["per_s"])),
        ("calls/s (CALLRESULTs)", fmt(run["calls"]["ok_per_s"])),
        ("latency p50 ms", fmt(lat.get("p50"), 2)),
        ("latency p95 ms", fmt(lat.get("p95"), 2)),
        ("latency p99 ms", fmt(lat.get("p99"), 2)),
        ("latency max ms", fmt(lat.get("max"), 2)),
        ("CALLERRORs", fmt(err["callerrors"])),
        ("timeouts (late/never)", f"{err['timeouts_answered_late']:,}/{err['unanswered']:,}"),
        ("disconnects", fmt(err["disconnects"])),
        ("connect/boot failures", f"{err['connect_failures']:,}/{err['boot_failures']:,}"),
        ("connect+boot all, s", fmt(setup["seconds"], 2)),
        ("boot p99 ms", fmt(setup["boot_ms"].get("p99"), 2)),
    ]


def detail_lines(run: dict[str, Any], label: str) -> list[str]:
    """Per-action latency, CALLERROR kinds, connect and boot failure kinds."""
    lines = []
    by_action = run["latency_ms_by_action"]
    if len(by_action) > 1:
        lines.append(
            f"{label} latency p50/p99 ms by action: "
            + ", ".join(
                f"{k} {fmt(v.get('p50'), 2)}/{fmt(v.get('p99'), 2)}" for k, v in by_action.items()
            )
        )
    kinds = run["errors"]["callerror_kinds"]
    if kinds:
        lines.append(f"{label} CALLERRORs: " + ", ".join(f"{k}: {v:,}" for k, v in kinds.items()))
    for kind_name in ("connect_failure_kinds", "boot_failure_kinds"):
        if run["errors"][kind_name]:
            lines.append(f"{label} {kind_name.replace('_', ' ')}: {run['errors'][kind_name]}")
    return lines


def headline(settings: dict[str, Any]) -> str:
    s = settings
    return (
        f"OCPP {s['ocpp']}, {s['mode']} loop"
        + (f" at {s['rate']:,} calls/s offered" if s["mode"] == "open" else "")
        + f", {s['connections']:,} connections, {s['duration']} s measured"
        + f" after {s['warmup']} s warm-up, mix {','.join(s['mix'])}"
    )


def render(report: dict[str, Any]) -> str:
    """`chargepark sim load`'s text report."""
    settings = report["settings"]
    lines = [headline(settings) + f", against {settings['url']}"]
    rows = [*client_rows(report), ("generator CPU %", fmt(report["generator"]["cpu_pct"]))]
    width = max(len(name) for name, _ in rows)
    lines += [f"{name:<{width}}  {value:>14}" for name, value in rows]
    by_ocpp = report.get("by_ocpp", {})
    if len(by_ocpp) > 1:
        for version, v in by_ocpp.items():
            lat = v["latency_ms"]
            lines.append(
                f"OCPP {version}: {v['booted']:,}/{v['requested']:,} booted, "
                f"{fmt(v['calls_per_s'])} calls/s, latency p50/p99 ms "
                f"{fmt(lat.get('p50'), 2)}/{fmt(lat.get('p99'), 2)}"
            )
    lines += detail_lines(report, "load")
    lines += [f"note: {note}" for note in report.get("notes", [])]
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    """Where the generator ran: CPUs, memory, versions, the open-files limit."""
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    import websockets

    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "websockets": websockets.__version__,
        "nofile_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }
