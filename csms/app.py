"""Wiring of the csms service: the only place that picks its implementations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from chargepark.db.group_commit import GroupCommitWriter
from chargepark.http.app import make_service_app
from chargepark.http.client import ServiceClient
from chargepark.service import ServiceContext, ServiceDefinition, ServiceParts
from csms import api
from csms.adapters.cluster import PresenceTable, Whereabouts
from csms.adapters.command_log import SqlCommandLog
from csms.adapters.command_routing import CommandResponder, RoutedCommandPort
from csms.adapters.energy_outbox import OutboxEnergyEvents
from csms.adapters.energy_readings import SqlEnergyReadings
from csms.adapters.energy_store import SqlInForce, SqlSiteLeases, SqlSiteStore
from csms.adapters.id_token_cache import SqlIdTokenCache
from csms.adapters.presence import Presence
from csms.adapters.recorded_commands import RecordedCommandPort
from csms.adapters.remote_starts import SqlRemoteStarts
from csms.adapters.repository import CsmsUnitOfWork
from csms.adapters.session_queries import SessionQueries
from csms.adapters.smart_charging_store import SqlOperatorProfiles, SqlSmartCharging
from csms.adapters.tables import charger_notifications, kernel, metadata, meter_samples
from csms.adapters.telemetry import TelemetryOutbox
from csms.consumers import build_consumer
from csms.ocpp.gateway import OcppGateway
from csms.ocpp.gateway.local import LocalCommandPort
from csms.ocpp.server import OcppServer
from csms.ocpp.smart_charging import SmartChargingEdge
from csms.ports.energy import SmartChargingFacts
from csms.services.authorization import Authorizer
from csms.services.chargers import ChargingService
from csms.services.charging_profiles import ChargingProfiles
from csms.services.energy import EnergyManager, EnergyPorts
from csms.services.energy_admin import SiteAdmin
from csms.services.energy_runner import LEASE_TTL, EnergyRunner, Nudge
from csms.services.housekeeping import Housekeeping
from csms.services.remote import RemoteControl
from csms.services.sessions import SessionService
from csms.settings import CSMS

TITLE = "chargepark charging (CSMS)"

Job = Callable[[], Awaitable[object]]


def build(ctx: ServiceContext) -> ServiceParts:
    settings = ctx.settings
    own = CSMS.of(settings)
    # Commits that emit events (a status changed, a vehicle parked or left) also wake the
    # energy manager, so new limits go out at once rather than at the next tick.
    nudge = Nudge()
    units = _nudging_units(ctx, nudge)
    service = ChargingService(units, ctx.clock, unknown_policy=own.ocpp_unknown)
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
    local_commands, command_log = _commands(ctx, app, presence, whereabouts)
    responder = CommandResponder(local_commands, ctx.bus, settings.node_id)
    remote = RemoteControl(
        SqlRemoteStarts(ctx.units_of_work(CsmsUnitOfWork), queries),
        app[api.GATEWAY],
        ctx.clock,
        live_version=whereabouts.version_of,
    )
    app[api.REMOTE] = remote
    smart_charging = _smart_charging(ctx, app, whereabouts)
    energy = _energy(ctx, app, smart_charging.store)
    nudge.target = energy.nudge
    smart_charging.add_listener(energy.charger_ready)
    app.add_routes(api.routes)
    ocpp, accounts = _ocpp_server(ctx, service, presence, smart_charging)
    housekeeping = _housekeeping(
        ctx, remote, command_log, presence, presence_table, service, ocpp, node_timeout
    )
    consumer = build_consumer(units, ctx.tables, ctx.clock)
    on_stop: list[Callable[[], Awaitable[None]]] = [accounts.close] if accounts else []
    # The presence table starts (clearing this node's old rows) before chargers can connect,
    # and stops (removing this node's rows) first.
    return ServiceParts(
        app=app,
        consumer=consumer,
        servers=[presence_table, responder, ocpp, housekeeping, energy],
        on_stop=on_stop,
    )


def _housekeeping(
    ctx: ServiceContext,
    remote: RemoteControl,
    command_log: SqlCommandLog,
    presence: Presence,
    presence_table: PresenceTable,
    service: ChargingService,
    ocpp: OcppServer,
    node_timeout: timedelta,
) -> Housekeeping:
    async def heartbeat_and_sweep() -> None:
        await presence_table.heartbeat()
        for charger_id in await presence_table.sweep_dead_nodes():
            if presence.get(charger_id) is None:  # not already back here (row not yet written)
                service.disconnected(charger_id)  # its socket died with its node

    # Every few seconds (at least four rounds per node timeout and per silence timeout):
    # remote starts no transaction took, commands a restart cut short, this node's presence
    # rows against its sockets, the nodes' heartbeats, and chargers gone silent.
    jobs: list[Job] = [
        remote.expire_pending,
        lambda: command_log.settle_abandoned(ctx.clock.now()),
        lambda: presence_table.reconcile(presence.sockets),
        lambda: service.recheck_connected(presence.sockets()),
        heartbeat_and_sweep,
    ]
    rounds = [15.0, node_timeout.total_seconds() / 4]
    own = CSMS.of(ctx.settings)
    if own.ocpp_silence_timeout_sec:
        silence = timedelta(seconds=own.ocpp_silence_timeout_sec)
        jobs.append(lambda: ocpp.close_silent(silence))
        rounds.append(silence.total_seconds() / 4)
    return Housekeeping(jobs, every_sec=min(rounds))


def _nudging_units(ctx: ServiceContext, nudge: Nudge) -> Callable[[], CsmsUnitOfWork]:
    def committed() -> None:
        ctx.relay.notify()
        nudge()

    return lambda: CsmsUnitOfWork(ctx.db, ctx.tables.outbox, ctx.clock, committed)


def _energy(ctx: ServiceContext, app: web.Application, facts: SmartChargingFacts) -> EnergyRunner:
    """The energy manager: each site's rounds on the node holding its lease; its commands go
    through the same gateway as everyone's (routed to the node holding each socket)."""
    own = CSMS.of(ctx.settings)
    readings = SqlEnergyReadings(ctx.db)
    sites = SqlSiteStore(ctx.db)
    ports = EnergyPorts(
        sites=sites,
        readings=readings,
        in_force=SqlInForce(ctx.db),
        facts=facts,
        commands=app[api.GATEWAY],
        links=readings,
        events=OutboxEnergyEvents(ctx.units_of_work(CsmsUnitOfWork)),
    )
    manager = EnergyManager(ports, ctx.clock, timedelta(minutes=own.energy_default_stay_min))
    runner = EnergyRunner(
        manager,
        sites,
        SqlSiteLeases(ctx.db, LEASE_TTL),
        ctx.settings.node_id,
        ctx.clock,
        tick_sec=own.energy_tick_sec,
    )
    app[api.SITES] = SiteAdmin(sites, manager, ctx.clock, nudge=runner.renew)
    return runner


def _commands(
    ctx: ServiceContext, app: web.Application, presence: Presence, whereabouts: Whereabouts
) -> tuple[LocalCommandPort, SqlCommandLog]:
    """The charger gateway: commands go out through the socket this node holds, or through the
    bus to the node that holds it (which sends it through its local port). Everything sent
    lands in the command log once, written by the node that was asked."""
    command_log = SqlCommandLog(ctx.db)
    app[api.COMMAND_LOG] = command_log
    local_commands = LocalCommandPort(presence)
    app[api.GATEWAY] = OcppGateway(
        RecordedCommandPort(
            RoutedCommandPort(local_commands, whereabouts, ctx.bus), command_log, ctx.clock
        )
    )
    return local_commands, command_log


def _smart_charging(
    ctx: ServiceContext, app: web.Application, whereabouts: Whereabouts
) -> SmartChargingEdge:
    """Operator profiles (REST) and what the OCPP edge does for smart charging: limits read
    after boot, profiles sent again, the charger's reports kept. `app[api.SMART_CHARGING]`
    offers its reads (`.store`) and `add_listener` (told after each charger's setup)."""
    store = SqlSmartCharging(ctx.db)
    profiles = ChargingProfiles(
        SqlOperatorProfiles(ctx.db),
        store,
        app[api.GATEWAY],
        ctx.clock,
        live_version=whereabouts.version_of,
    )
    app[api.PROFILES] = profiles
    edge = SmartChargingEdge(app[api.GATEWAY], store, profiles, ctx.clock)
    app[api.SMART_CHARGING] = edge
    return edge


def _ocpp_server(
    ctx: ServiceContext,
    service: ChargingService,
    presence: Presence,
    smart_charging: SmartChargingEdge | None = None,
) -> tuple[OcppServer, ServiceClient | None]:
    settings = ctx.settings
    auth = settings.auth
    accounts = None
    if auth.accounts_url and auth.service_client_id and auth.service_client_secret:
        accounts = ServiceClient(
            auth.accounts_url,
            f"{auth.accounts_url}/auth/token",
            auth.service_client_id,
            auth.service_client_secret,
        )
    authorizer = Authorizer(
        SqlIdTokenCache(ctx.db),
        ctx.clock,
        accounts,
        offline_policy=CSMS.of(settings).ocpp_offline_auth,
    )
    ocpp = OcppServer(
        settings.host,
        settings.ocpp_port,
        settings.ocpp_path,
        service=service,
        authorizer=authorizer,
        transactions=SessionService(ctx.units_of_work(CsmsUnitOfWork), ctx.clock, authorizer),
        samples=GroupCommitWriter(
            ctx.db,
            meter_samples,
            companion=TelemetryOutbox(ctx.tables.outbox, ctx.clock, ctx.relay.notify),
        ),
        notifications=GroupCommitWriter(ctx.db, charger_notifications),
        presence=presence,
        clock=ctx.clock,
        tls=settings.ocpp_tls,
        smart_charging=smart_charging,
    )
    return ocpp, accounts


DEFINITION = ServiceDefinition(
    name="csms", title=TITLE, metadata=metadata, tables=kernel, build=build
)
