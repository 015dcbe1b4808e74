"""Wiring of the billing service: the only place that picks its implementations."""

from __future__ import annotations

from billing.store import kernel, metadata
from chargepark.http.app import make_service_app
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts

TITLE = "chargepark billing"


def build(ctx: ServiceContext) -> ServiceParts:
    return ServiceParts(app=make_service_app(ctx, TITLE))


DEFINITION = ServiceDefinition(
    name="billing", title=TITLE, metadata=metadata, tables=kernel, build=build
)
