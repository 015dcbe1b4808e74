"""Wiring of the accounts service: the only place that picks its implementations."""

from __future__ import annotations

from accounts.store import kernel, metadata
from chargepark.http.app import make_service_app
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts

TITLE = "chargepark accounts"


def build(ctx: ServiceContext) -> ServiceParts:
    return ServiceParts(app=make_service_app(ctx, TITLE))


DEFINITION = ServiceDefinition(
    name="accounts", title=TITLE, metadata=metadata, tables=kernel, build=build
)
