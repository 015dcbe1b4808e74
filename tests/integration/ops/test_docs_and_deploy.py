"""docs/ops.md lists every metric ops and the kernel expose; the example Grafana dashboard asks
only for those; the example Prometheus configuration scrapes every service."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

from chargepark.platform.config import SERVICES
from ops.api import KPIS
from ops.kpis import OpsCollector

ROOT = Path(__file__).resolve().parents[3]


async def exposed(ops) -> set[str]:
    await ops.parts.app[KPIS].refresh(force=True)
    names = {m.name for m in OpsCollector().collect()}
    names |= {m.name for m in REGISTRY.collect() if m.name.startswith("chargepark_")}
    return names


async def test_the_docs_list_every_metric(ops):
    doc = (ROOT / "docs" / "ops.md").read_text()
    for name in await exposed(ops):
        assert f"`{name}" in doc, name


async def test_the_dashboard_asks_only_for_exposed_metrics(ops):
    known = await exposed(ops)
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "chargepark.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    for expr in exprs:
        for used in re.findall(r"\bchargepark_[a-z_]+", expr):
            base = re.sub(r"_(total|bucket|sum|count)$", "", used)
            assert used in known or base in known, used


def test_prometheus_scrapes_every_service():
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert set(SERVICES) <= jobs
