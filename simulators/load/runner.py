"""One load run against a running server: connect and boot, load, close, merge the numbers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simulators.load.fanout import Pool
from simulators.load.spec import LoadSpec
from simulators.load.stats import by_ocpp_version, client_sections

GENERATOR_BUSY_PCT = 85.0  # of one core per process: past this the generator may be the limit


def default_start_method(load: LoadSpec) -> str:
    """One worker runs as a thread of this process; several as fresh processes ("spawn" is
    safe whatever threads the caller has)."""
    return "thread" if load.processes == 1 else "spawn"


def run(
    load: LoadSpec,
    *,
    start_method: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The run's client-side report: `stats.client_sections` plus `by_ocpp` and `notes`.

    Nothing is measured when no charger connected and booted: the report then has no calls,
    and its notes say why. Raises `fanout.WorkerError` when a worker fails.
    """
    say = progress or (lambda line: None)
    pool = Pool(load, start_method or default_start_method(load))
    results: list[dict[str, Any]] = []
    try:
        ready = pool.gather("ready", load.setup_budget + 60)
        opened = sum(r["opened"] for r in ready)
        booted = sum(r["booted"] for r in ready)
        seconds = max(r["ended"] for r in ready) - min(r["started"] for r in ready)
        say(
            f"{opened:,} of {load.connections:,} chargers connected, {booted:,} booted "
            f"in {seconds:.2f} s"
        )
        if booted:
            say(f"loading: {load.warmup:g} s warm-up, then {load.duration:g} s measured")
            start_at = time.monotonic() + 0.2
            pool.send(("go", start_at))
            results = pool.gather("result", 0.2 + load.warmup + load.duration + load.timeout + 60)
    finally:
        pool.stop()
    report = client_sections(load, ready, results)
    report["by_ocpp"] = by_ocpp_version(load, ready, results)
    report["notes"] = hints(load, report)
    return report


def hints(load: LoadSpec, report: dict[str, Any]) -> list[str]:
    """What a reader should know: why chargers were refused, whether the generator was busy."""
    notes: list[str] = []
    errors = report["errors"]
    refusals = " ".join(errors["connect_failure_kinds"])
    first = load.charger_id(0)
    if "HTTP 404" in refusals:
        notes.append(
            "the server refused charger ids it does not know (HTTP 404): start the csms with "
            f"CHARGEPARK_OCPP_UNKNOWN=accept, or register {first} and the others first"
        )
    if "HTTP 401" in refusals:
        notes.append(
            "the server wants credentials (HTTP 401): these chargers are registered with a "
            "password; give it with --password"
            + (" (the one given was refused)" if load.password else "")
        )
    if "connection refused" in errors["connect_failure_kinds"]:
        notes.append(f"nothing accepts connections at {load.endpoint.url}")
    if "Pending or other" in errors["boot_failure_kinds"]:
        notes.append(
            "BootNotification was answered Pending: CHARGEPARK_OCPP_UNKNOWN=pending lets "
            "unknown chargers in without accepting them; use accept, or register them"
        )
    if report["connections"]["booted"] == 0:
        notes.append("no charger connected and booted: nothing was measured")
    busy = report["generator"]["cpu_pct"] / max(1, load.processes)
    if busy > GENERATOR_BUSY_PCT:
        notes.append(
            f"the generator used {busy:.0f}% of a core per process: the numbers may measure "
            "it rather than the server; add --processes (and cores)"
        )
    return notes
