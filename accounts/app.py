"""Wiring of the accounts service: the only place that picks its implementations."""

from __future__ import annotations

from chargepark.http.app import make_service_app
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts

from accounts import api
from accounts.repository import AccountsUnitOfWork
from accounts.service import AccountsService
from accounts.store import kernel, metadata

TITLE = "chargepark accounts"


def build(ctx: ServiceContext) -> ServiceParts:
    app = make_service_app(ctx, TITLE)
    app[api.SERVICE] = AccountsService(ctx.units_of_work(AccountsUnitOfWork), ctx.clock)
    app.add_routes(api.routes)
    return ServiceParts(app=app)


DEFINITION = ServiceDefinition(
    name="accounts", title=TITLE, metadata=metadata, tables=kernel, build=build
)
