"""Wiring of the csms service: the only place that picks its implementations."""

from __future__ import annotations

from chargepark.http.app import make_service_app
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts
from csms.ocpp.server import OcppServer
from csms.store import kernel, metadata

TITLE = "chargepark charging (CSMS)"


def build(ctx: ServiceContext) -> ServiceParts:
    ocpp = OcppServer(ctx.settings.host, ctx.settings.ocpp_port, ctx.settings.ocpp_path)
    return ServiceParts(app=make_service_app(ctx, TITLE), servers=[ocpp])


DEFINITION = ServiceDefinition(
    name="csms", title=TITLE, metadata=metadata, tables=kernel, build=build
)
