"""Wiring of the ops service: the only place that picks its implementations.

Ops calls no other service: it learns everything from events (its consumer), keeps its own
tables, evaluates alert rules in an APScheduler job and POSTs incident changes to the webhook
URL when one is configured (CHARGEPARK_OPS_ALERT_WEBHOOK_URL).
"""

from __future__ import annotations

from chargepark.http.app import make_service_app
from chargepark.http.metrics import add_scrape_hook
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts
from ops import api
from ops.adapters.alert_store import SqlAlertReads
from ops.adapters.queries import OpsQueries
from ops.adapters.sql_uow import SqlOpsUnitOfWork
from ops.adapters.webhook import HttpWebhookSender
from ops.consumers import build_consumer
from ops.kpis import KpiPublisher
from ops.services.alerts import AlertService
from ops.services.capacity import LotCapacities
from ops.settings import OPS
from ops.store import kernel, metadata
from ops.worker import AlertWorker

TITLE = "chargepark ops"


def build(ctx: ServiceContext) -> ServiceParts:
    settings = OPS.of(ctx.settings)
    units = ctx.units_of_work(SqlOpsUnitOfWork)
    queries = OpsQueries(ctx.db, ctx.clock)
    alerts = AlertService(
        units,
        SqlAlertReads(ctx.db),
        queries,
        HttpWebhookSender(),
        ctx.clock,
        webhook_url=settings.alert_webhook_url,
        max_attempts=settings.webhook_max_attempts,
    )
    kpis = KpiPublisher(queries)
    app = make_service_app(ctx, TITLE)
    app[api.QUERIES] = queries
    app[api.ALERTS] = alerts
    app[api.KPIS] = kpis
    app[api.common.CAPACITIES] = LotCapacities(units, ctx.clock)
    app.add_routes(api.routes)
    add_scrape_hook(app, kpis.refresh)
    worker = AlertWorker(alerts, settings.alert_interval_sec, after_run=kpis.refresh)
    return ServiceParts(app=app, consumer=build_consumer(units, ctx.tables), servers=[worker])


DEFINITION = ServiceDefinition(
    name="ops", title=TITLE, metadata=metadata, tables=kernel, build=build
)
