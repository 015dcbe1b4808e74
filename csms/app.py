"""Wiring of the csms service: the only place that picks its implementations."""

from __future__ import annotations

from datetime import timedelta

from chargepark.db.group_commit import GroupCommitWriter
from chargepark.http.app import make_service_app
from chargepark.http.client import ServiceClient
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts
from csms import api
from csms.authorization import Authorizer
from csms.cluster import PresenceTable, Whereabouts
from csms.commands.history import CommandHistory
from csms.commands.local import LocalCommandPort
from csms.commands.recorded import RecordedCommandPort
from csms.commands.routed import CommandResponder, RoutedCommandPort
from csms.consumers import build_consumer
from csms.housekeeping import Housekeeping
from csms.ocpp.server import OcppServer
from csms.presence import Presence
from csms.remote import RemoteControl
from csms.repository import CsmsUnitOfWork
from csms.service import ChargingService
from csms.session_queries import SessionQueries
from csms.settings import CSMS
from csms.store import charger_notifications, kernel, metadata, meter_samples
from csms.telemetry import TelemetryOutbox
from csms.transactions import TransactionService

TITLE = "chargepark charging (CSMS)"


def build(ctx: ServiceContext) -> ServiceParts:
    settings = ctx.settings
    own = CSMS.of(settings)
    service = ChargingService(
        ctx.units_of_work(CsmsUnitOfWork), ctx.clock, unknown_policy=own.ocpp_unknown
    )
    # This node's sockets in memory; shared with the other csms nodes through the database
    # (one write per connect and disconnect), so any node can route a command or say whether
    # a charger is connected.
    node_timeout = timedelta(seconds=own.node_timeout_sec)
    presence_table = PresenceTable(
        ctx.db,
        settings.node_id,
        only_node=settings.bus.in_process,
        clock=ctx.clock,
        node_timeout=node_timeout,
    )
    presence = Presence(listener=presence_table)
    whereabouts = Whereabouts(presence, presence_table)
    app = make_service_app(ctx, TITLE)
    app[api.SERVICE] = service
    app[api.PRESENCE] = presence
    app[api.WHEREABOUTS] = whereabouts
    queries = SessionQueries(ctx.db)
    app[api.SESSIONS] = queries
    # Commands go out through the socket this node holds, or through the bus to the node that
    # holds it (which sends it through its local port). Everything sent lands in the command
    # log once, written by the node that was asked.
    commands = CommandHistory(ctx.db)
    app[api.COMMAND_HISTORY] = commands
    local_commands = LocalCommandPort(presence)
    app[api.COMMAND_PORT] = RecordedCommandPort(
        RoutedCommandPort(local_commands, whereabouts, ctx.bus), commands, ctx.clock
    )
    responder = CommandResponder(local_commands, ctx.bus, settings.node_id)
    remote = RemoteControl(
        ctx.units_of_work(CsmsUnitOfWork),
        queries,
        app[api.COMMAND_PORT],
        ctx.clock,
        live_version=whereabouts.version_of,
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
    authorizer = Authorizer(ctx.db, ctx.clock, accounts, offline_policy=own.ocpp_offline_auth)
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

    async def heartbeat_and_sweep() -> None:
        await presence_table.heartbeat()
        for charger_id in await presence_table.sweep_dead_nodes():
            if presence.get(charger_id) is None:  # not already back here (row not yet written)
                service.disconnected(charger_id)  # its socket died with its node

    # Every few seconds (at least four rounds per node timeout and per silence timeout):
    # remote starts no transaction took, commands a restart cut short, this node's presence
    # rows against its sockets, the nodes' heartbeats, and chargers gone silent.
    jobs = [
        remote.expire_pending,
        lambda: commands.settle_abandoned(ctx.clock.now()),
        lambda: presence_table.reconcile(presence.sockets),
        lambda: service.recheck_connected(presence.sockets()),
        heartbeat_and_sweep,
    ]
    rounds = [15.0, node_timeout.total_seconds() / 4]
    if own.ocpp_silence_timeout_sec:
        silence = timedelta(seconds=own.ocpp_silence_timeout_sec)
        jobs.append(lambda: ocpp.close_silent(silence))
        rounds.append(silence.total_seconds() / 4)
    housekeeping = Housekeeping(jobs, every_sec=min(rounds))
    consumer = build_consumer(ctx.units_of_work(CsmsUnitOfWork), ctx.tables, ctx.clock)
    on_stop = [accounts.close] if accounts is not None else []
    # The presence table starts (clearing this node's old rows) before chargers can connect,
    # and stops (removing this node's rows) first.
    return ServiceParts(
        app=app,
        consumer=consumer,
        servers=[presence_table, responder, ocpp, housekeeping],
        on_stop=on_stop,
    )


DEFINITION = ServiceDefinition(
    name="csms", title=TITLE, metadata=metadata, tables=kernel, build=build
)
