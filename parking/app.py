"""Wiring of the parking service: the only place that picks its implementations."""

from __future__ import annotations

from chargepark.http.app import make_service_app
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts
from parking import api
from parking.consumers import build_consumer
from parking.finders import ParkingFinders
from parking.queries import ParkingQueries
from parking.repository import SqlParkingUnitOfWork
from parking.service import ParkingService
from parking.single_statement import SingleStatementParking
from parking.store import kernel, metadata

TITLE = "chargepark parking"


def build(ctx: ServiceContext) -> ServiceParts:
    # Parking calls no other service: it keeps serving while csms, billing or the bus are down
    # (its events wait in the outbox; the EV view shows the last state csms reported).
    units = ctx.units_of_work(SqlParkingUnitOfWork)
    app = make_service_app(ctx, TITLE)
    at_once = None
    if ctx.db.dialect == "postgresql":
        at_once = SingleStatementParking(ctx.db, ctx.tables.outbox, ctx.relay.notify)
    app[api.SERVICE] = ParkingService(units, ctx.clock, at_once)
    app[api.QUERIES] = ParkingQueries(ctx.db, ctx.clock)
    app[api.FINDERS] = ParkingFinders(ctx.db)
    app.add_routes(api.routes)
    return ServiceParts(app=app, consumer=build_consumer(units, ctx.tables))


DEFINITION = ServiceDefinition(
    name="parking", title=TITLE, metadata=metadata, tables=kernel, build=build
)
