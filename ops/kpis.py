"""The platform's business KPIs as Prometheus metrics, from ops' own small tables.

A collector in the process's default registry yields the newest snapshot; the snapshot is taken
by the alert job on each run and by ops' /metrics before each scrape (at most every
MIN_REFRESH_SEC), from the newest status per connector, the stays still open, the active
sessions, the running invoice totals and each site's newest load report: never a scan of a
growing table. Every /metrics of the process (all services, embedded) exposes the same values.
docs/ops.md lists the metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ops import domain
from ops.ports import MetricsReads

MIN_REFRESH_SEC = 2.0

_snapshot: dict[str, Any] | None = None


class OpsCollector(Collector):
    def collect(self) -> Iterator[Any]:
        snap = _snapshot
        if snap is None:
            return
        lots = GaugeMetricFamily(
            "chargepark_lot_occupied_vehicles",
            "Vehicles parked now, per lot and kind of slot (ev_bay: a slot with a charger)",
            labels=["lot_id", "ev_bay"],
        )
        ratio = GaugeMetricFamily(
            "chargepark_lot_occupancy_ratio",
            "Share of a lot's slots occupied now (0-1); lots whose capacity ops knows",
            labels=["lot_id"],
        )
        for lot in snap["lots"]:
            ev = lot["ev"]["occupied"]
            lots.add_metric([lot["lot_id"], "true"], ev)
            lots.add_metric([lot["lot_id"], "false"], lot["occupied"] - ev)
            if lot["capacity"]:
                ratio.add_metric([lot["lot_id"]], lot["occupied"] / lot["capacity"])
        yield lots
        yield ratio
        for name, doc, values in (
            ("chargepark_chargers", "Chargers by their worst connector's status", "chargers"),
            ("chargepark_connectors", "Charger connectors (EVSEs) by status", "connectors"),
        ):
            family = GaugeMetricFamily(name, doc, labels=["status"])
            counted = Counter(snap[values])
            for status in (*domain.CATEGORIES, domain.UNKNOWN):
                family.add_metric([status], counted.get(status, 0))
            yield family
        yield GaugeMetricFamily(
            "chargepark_sessions_active",
            "Charging sessions started and not closed",
            value=snap["sessions_active"],
        )
        invoices = CounterMetricFamily(
            "chargepark_invoices",
            "Invoices issued and paid, as ops counted their events",
            labels=["state"],
        )
        amounts = CounterMetricFamily(
            "chargepark_invoice_amount_minor",
            "Invoice amounts issued and paid, in minor units of the currency",
            labels=["state", "currency"],
        )
        totals = {(name, currency): value for name, currency, value in snap["totals"]}
        for state in ("issued", "paid"):
            invoices.add_metric([state], totals.get((f"invoices_{state}", ""), 0))
        for (name, currency), value in sorted(totals.items()):
            if name.endswith("_minor"):
                amounts.add_metric([name.removesuffix("_minor"), currency], value)
        yield invoices
        yield amounts
        yield _incidents(snap["incidents_open"])
        yield from _site_families(snap.get("sites", []))


def _incidents(open_by_kind: dict[str, int]) -> GaugeMetricFamily:
    incidents = GaugeMetricFamily(
        "chargepark_incidents_open", "Open alert incidents per rule kind", labels=["rule_kind"]
    )
    for kind in domain.RuleKind:
        incidents.add_metric([kind.value], open_by_kind.get(kind.value, 0))
    return incidents


def _site_families(sites: list[tuple[str, float, float, float]]) -> Iterator[Any]:
    """Each energy-managed site's newest report: what it draws, may draw, and has handed out."""
    families = [
        GaugeMetricFamily(name, doc, labels=["site_id"])
        for name, doc in (
            ("chargepark_site_power_kw", "What a site's chargers draw now, kW (newest report)"),
            (
                "chargepark_site_limit_kw",
                "What a site's chargers may draw now: its limit minus margin and other load, kW",
            ),
            (
                "chargepark_site_allocated_kw",
                "The sum of the limits in force on a site's chargers, kW",
            ),
        )
    ]
    for site_id, *values in sites:
        for family, value in zip(families, values, strict=True):
            family.add_metric([site_id], value)
    yield from families


_collector = OpsCollector()
REGISTRY.register(_collector)


class KpiPublisher:
    def __init__(self, queries: MetricsReads) -> None:
        self.queries = queries
        self._taken_at = -MIN_REFRESH_SEC
        self._lock = asyncio.Lock()

    async def refresh(self, *, force: bool = False) -> None:
        global _snapshot
        async with self._lock:
            if not force and time.monotonic() - self._taken_at < MIN_REFRESH_SEC:
                return
            _snapshot = await self.queries.gauges()
            self._taken_at = time.monotonic()
