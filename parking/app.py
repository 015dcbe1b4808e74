"""Wiring of the parking service: the only place that picks its implementations."""

from __future__ import annotations

from chargepark.http.app import make_service_app
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts
from parking.store import kernel, metadata

TITLE = "chargepark parking"


def build(ctx: ServiceContext) -> ServiceParts:
    return ServiceParts(app=make_service_app(ctx, TITLE))


DEFINITION = ServiceDefinition(
    name="parking", title=TITLE, metadata=metadata, tables=kernel, build=build
)
