"""Wiring of the csms service: the only place that picks its implementations."""

from __future__ import annotations

from chargepark.http.app import make_service_app
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts
from csms import api
from csms.ocpp.server import OcppServer
from csms.presence import Presence
from csms.repository import CsmsUnitOfWork
from csms.service import ChargingService
from csms.store import kernel, metadata

TITLE = "chargepark charging (CSMS)"


def build(ctx: ServiceContext) -> ServiceParts:
    settings = ctx.settings
    service = ChargingService(
        ctx.units_of_work(CsmsUnitOfWork), ctx.clock, unknown_policy=settings.ocpp_unknown
    )
    presence = Presence()
    app = make_service_app(ctx, TITLE)
    app[api.SERVICE] = service
    app[api.PRESENCE] = presence
    app.add_routes(api.routes)
    ocpp = OcppServer(
        settings.host,
        settings.ocpp_port,
        settings.ocpp_path,
        service=service,
        presence=presence,
        clock=ctx.clock,
    )
    return ServiceParts(app=app, servers=[ocpp])


DEFINITION = ServiceDefinition(
    name="csms", title=TITLE, metadata=metadata, tables=kernel, build=build
)
