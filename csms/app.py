"""Wiring of the csms service: the only place that picks its implementations."""

from __future__ import annotations

from chargepark.db.group_commit import GroupCommitWriter
from chargepark.http.app import make_service_app
from chargepark.http.client import ServiceClient
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts
from csms import api
from csms.authorization import Authorizer
from csms.commands.history import CommandHistory
from csms.commands.local import LocalCommandPort
from csms.commands.recorded import RecordedCommandPort
from csms.consumers import build_consumer
from csms.housekeeping import Housekeeping
from csms.ocpp.server import OcppServer
from csms.presence import Presence
from csms.remote import RemoteControl
from csms.repository import CsmsUnitOfWork
from csms.service import ChargingService
from csms.session_queries import SessionQueries
from csms.store import charger_notifications, kernel, metadata, meter_samples
from csms.telemetry import TelemetryOutbox
from csms.transactions import TransactionService

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
    queries = SessionQueries(ctx.db)
    app[api.SESSIONS] = queries
    # Commands go out through the socket this node holds; a multi-node port replaces only
    # LocalCommandPort. Everything sent, whoever asks, lands in the command log.
    commands = CommandHistory(ctx.db)
    app[api.COMMAND_HISTORY] = commands
    app[api.COMMAND_PORT] = RecordedCommandPort(LocalCommandPort(presence), commands, ctx.clock)
    remote = RemoteControl(
        ctx.units_of_work(CsmsUnitOfWork),
        queries,
        app[api.COMMAND_PORT],
        ctx.clock,
        live_version=presence.version_of,
    )
    app[api.REMOTE] = remote
    app.add_routes(api.routes)
    auth = settings.auth
    accounts = None
    if auth.accounts_url and auth.service_client_id and auth.service_client_secret:
        accounts = ServiceClient(
            auth.accounts_url,
            f"{auth.accounts_url}/auth/token",
            auth.service_client_id,
            auth.service_client_secret,
        )
    authorizer = Authorizer(ctx.db, ctx.clock, accounts, offline_policy=settings.ocpp_offline_auth)
    ocpp = OcppServer(
        settings.host,
        settings.ocpp_port,
        settings.ocpp_path,
        service=service,
        authorizer=authorizer,
        transactions=TransactionService(ctx.units_of_work(CsmsUnitOfWork), ctx.clock, authorizer),
        samples=GroupCommitWriter(
            ctx.db,
            meter_samples,
            companion=TelemetryOutbox(ctx.tables.outbox, ctx.clock, ctx.relay.notify),
        ),
        notifications=GroupCommitWriter(ctx.db, charger_notifications),
        presence=presence,
        clock=ctx.clock,
        tls=settings.ocpp_tls,
    )
    # Every few seconds: remote starts no transaction took, commands a restart cut short.
    housekeeping = Housekeeping(
        [remote.expire_pending, lambda: commands.settle_abandoned(ctx.clock.now())]
    )
    consumer = build_consumer(ctx.units_of_work(CsmsUnitOfWork), ctx.tables, ctx.clock)
    on_stop = [accounts.close] if accounts is not None else []
    return ServiceParts(app=app, consumer=consumer, servers=[ocpp, housekeeping], on_stop=on_stop)


DEFINITION = ServiceDefinition(
    name="csms", title=TITLE, metadata=metadata, tables=kernel, build=build
)
