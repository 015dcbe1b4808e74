"""The `chargepark` command: run the platform, one service, migrations, or the simulators.

Bad input gets one line on stderr and exit code 2; an unexpected failure one line and exit
code 1, with the traceback in the log. Ctrl-C / SIGTERM shut down cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from chargepark import __version__, tracing
from chargepark.config import Settings
from chargepark.errors import ConfigError, DomainError
from chargepark.logging import configure_logging
from chargepark.platform.config import MOUNT_PREFIXES, SERVICES, load_settings

log = logging.getLogger("chargepark")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, exit code 2, like every other bad input to chargepark.
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common(p: argparse.ArgumentParser, *, http: bool = True) -> None:
    g = p.add_argument_group("common settings (flags win over CHARGEPARK_* env vars)")
    g.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where SQLite databases live (CHARGEPARK_DATA_DIR, default ./var)",
    )
    g.add_argument(
        "--bus-url",
        metavar="URL",
        help="nats://host:4222 for NATS JetStream; empty for the in-process bus "
        "(CHARGEPARK_BUS_URL)",
    )
    g.add_argument(
        "--log-level",
        metavar="LEVEL",
        help="debug, info, warning or error (CHARGEPARK_LOG_LEVEL, default info)",
    )
    g.add_argument(
        "--log-format", metavar="FMT", help="json or text (CHARGEPARK_LOG_FORMAT, default json)"
    )
    if http:
        g.add_argument(
            "--host",
            metavar="ADDR",
            help="address to listen on (CHARGEPARK_HOST, default 127.0.0.1)",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="chargepark",
        description="chargepark: OCPP charging, parking and billing in one platform.",
        epilog="Every flag has a CHARGEPARK_* environment variable; see the README.",
    )
    parser.add_argument("--version", action="version", version=f"chargepark {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    _add_up(sub)
    _add_serve(sub)
    _add_migrate(sub)
    _add_admin(sub)
    from simulators.cli import add_commands

    add_commands(sub)  # sim charger, sim run, demo
    return parser


# What `add_subparsers` returns (argparse keeps its class private).
Commands = Any


def _add_up(sub: Commands) -> None:
    up = sub.add_parser(
        "up",
        help="run all five services in one process (embedded: SQLite, in-process bus)",
        description="Run accounts, csms, parking, billing and ops in one process. REST on "
        "--http-port with each service under its prefix ("
        + ", ".join(f"{s} at {p}" for s, p in MOUNT_PREFIXES.items())
        + "); OCPP WebSocket on --ocpp-port at /ocpp/{charge_point_id}.",
    )
    up.add_argument("--http-port", metavar="PORT", help="REST port (CHARGEPARK_HTTP_PORT, 8080)")
    up.add_argument("--ocpp-port", metavar="PORT", help="OCPP port (CHARGEPARK_OCPP_PORT, 9000)")
    _common(up)


def _add_serve(sub: Commands) -> None:
    serve = sub.add_parser(
        "serve",
        help="run one service on its own (distributed deployments)",
        description="Run one service with its routes at the root (e.g. /healthz). Its database "
        "comes from --database-url, CHARGEPARK_DATABASE_URL or "
        "CHARGEPARK_<SERVICE>_DATABASE_URL; migrations run only with --migrate.",
    )
    serve.add_argument(
        "service", choices=SERVICES, metavar="SERVICE", help="one of: " + ", ".join(SERVICES)
    )
    serve.add_argument(
        "--port", dest="http_port", metavar="PORT", help="REST port (CHARGEPARK_HTTP_PORT, 8080)"
    )
    serve.add_argument(
        "--ocpp-port", metavar="PORT", help="csms only: OCPP port (CHARGEPARK_OCPP_PORT, 9000)"
    )
    serve.add_argument(
        "--database-url",
        metavar="URL",
        help="postgresql://... or sqlite:///... (CHARGEPARK_DATABASE_URL)",
    )
    serve.add_argument(
        "--migrate",
        dest="migrate_on_start",
        action="store_const",
        const="true",
        help="apply this service's migrations before serving (CHARGEPARK_MIGRATE_ON_START)",
    )
    _common(serve)


def _add_migrate(sub: Commands) -> None:
    mig = sub.add_parser(
        "migrate",
        help="apply (or roll back) database migrations",
        description="Upgrade each named service's database to its newest migration "
        "(all services when none is named), or roll back with --downgrade.",
    )
    mig.add_argument(
        "service",
        nargs="?",
        choices=SERVICES,
        metavar="SERVICE",
        help="one of: " + ", ".join(SERVICES) + " (default: all)",
    )
    mig.add_argument(
        "--database-url", metavar="URL", help="with SERVICE: its database (CHARGEPARK_DATABASE_URL)"
    )
    how = mig.add_mutually_exclusive_group()
    how.add_argument(
        "--revision", default="head", metavar="REV", help="upgrade to this revision (default: head)"
    )
    how.add_argument(
        "--downgrade", metavar="REV", help="downgrade to this revision ('base' removes every table)"
    )
    _common(mig, http=False)


def _add_admin(sub: Commands) -> None:
    clients = sub.add_parser(
        "clients",
        help="manage API clients (operator tools and services)",
        description="Create, list or revoke the API clients that get tokens with the OAuth2 "
        "client_credentials grant. Works on the accounts database.",
    )
    clients_sub = clients.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=_Parser
    )
    create = clients_sub.add_parser("create", help="create a client; prints its secret once")
    create.add_argument("--name", required=True, help="what the client is for")
    create.add_argument(
        "--scopes", metavar="'S1 S2'", help="space-separated scopes (default: every scope)"
    )
    clients_sub.add_parser("list", help="list clients")
    revoke = clients_sub.add_parser("revoke", help="revoke a client")
    revoke.add_argument("client_id", metavar="CLIENT_ID")

    keys = sub.add_parser(
        "keys",
        help="manage the token signing keys",
        description="Rotate the key that signs tokens (the old one keeps verifying until its "
        "tokens expire), or list the keys.",
    )
    keys_sub = keys.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=_Parser
    )
    keys_sub.add_parser("rotate", help="make a new signing key")
    keys_sub.add_parser("list", help="list signing keys")
    for actions in (clients_sub, keys_sub):
        for action in actions.choices.values():
            action.add_argument(
                "--database-url",
                metavar="URL",
                help="the accounts database (CHARGEPARK_DATABASE_URL)",
            )
            _common(action, http=False)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (ConfigError, DomainError) as exc:
        print(f"chargepark: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        log.exception("chargepark failed")
        print(
            f"chargepark: failed: {type(exc).__name__}: {exc} (details in the log)", file=sys.stderr
        )
        return 1


def _flags(args: argparse.Namespace, *keys: str) -> dict[str, Any]:
    return {k: getattr(args, k, None) for k in keys}


_COMMON = ("data_dir", "bus_url", "log_level", "log_format", "host")


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "up":
        settings = load_settings(flags=_flags(args, "http_port", "ocpp_port", *_COMMON))
        return _run(settings, SERVICES)
    if args.command == "serve":
        settings = load_settings(
            flags=_flags(
                args, "http_port", "ocpp_port", "database_url", "migrate_on_start", *_COMMON
            ),
            services=(args.service,),
            migrate_default=False,
        )
        return _run(settings, (args.service,))
    if args.command in ("clients", "keys"):
        return _admin(args)
    if args.command in ("sim", "demo"):
        from simulators.cli import run

        return run(args)
    services = (args.service,) if args.service else SERVICES
    if args.database_url and not args.service:
        raise ConfigError("--database-url: name the SERVICE it belongs to")
    settings = load_settings(flags=_flags(args, "database_url", *_COMMON[:-1]), services=services)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(_migrate(settings, services, args.revision, args.downgrade))
    return 0


def _admin(args: argparse.Namespace) -> int:
    from accounts.identity import admin

    settings = load_settings(
        flags=_flags(args, "database_url", *_COMMON[:-1]), services=("accounts",)
    )
    configure_logging(settings.log_level, settings.log_format)
    commands = {
        ("clients", "create"): lambda: admin.create_client(settings, args.name, args.scopes),
        ("clients", "list"): lambda: admin.list_clients(settings),
        ("clients", "revoke"): lambda: admin.revoke_client(settings, args.client_id),
        ("keys", "rotate"): lambda: admin.rotate_key(settings),
        ("keys", "list"): lambda: admin.list_keys(settings),
    }
    for line in asyncio.run(commands[(args.command, args.action)]()):
        print(line)
    return 0


async def _migrate(
    settings: Settings, services: Sequence[str], revision: str, downgrade: str | None
) -> None:
    from chargepark.db import migrate
    from chargepark.db.engine import Database

    for service in services:
        db = Database(settings.database_url(service))
        try:
            if downgrade:
                await migrate.downgrade(service, db, downgrade)
            else:
                await migrate.upgrade(service, db, revision)
            now = await migrate.current_revision(service, db)
        finally:
            await db.dispose()
        print(f"{service}: at revision {now or 'base'}")


def _run(settings: Settings, services: Sequence[str]) -> int:
    configure_logging(settings.log_level, settings.log_format)
    # OTEL_* decide (off when unset); before anything is built, which reads the choice once.
    name = "chargepark" if len(services) > 1 else f"chargepark-{services[0]}"
    tracing.configure(name)
    try:
        asyncio.run(_serve(settings, services))
    finally:
        tracing.shutdown()
    return 0


async def _serve(settings: Settings, services: Sequence[str]) -> None:
    from chargepark.net import ensure_port_free
    from chargepark.platform.runtime import Platform

    ensure_port_free("HTTP", settings.host, settings.http_port)
    if "csms" in services:
        ensure_port_free("OCPP", settings.host, settings.ocpp_port)
        if settings.ocpp_tls is not None:
            ensure_port_free("OCPP TLS", settings.host, settings.ocpp_tls.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    platform = Platform(settings, services)
    await platform.start()
    print(_banner(settings, services), flush=True)
    for notice in platform.notices:
        print(notice, flush=True)
    try:
        await stop.wait()
    finally:
        print("chargepark: shutting down", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            await platform.stop()


def _banner(settings: Settings, services: Sequence[str]) -> str:
    base = f"http://{settings.host}:{settings.http_port}"
    lines = [
        f"chargepark {__version__} is up ({'embedded' if len(services) > 1 else 'serve'}, "
        f"bus: {'in-process' if settings.bus.in_process else settings.bus.url})"
    ]
    if len(services) > 1:
        lines += [f"  {s:<9} {base}{MOUNT_PREFIXES[s]}/healthz" for s in services]
    else:
        lines.append(f"  {services[0]:<9} {base}/healthz")
    if "csms" in services:
        lines.append(
            f"  OCPP      ws://{settings.host}:{settings.ocpp_port}"
            f"{settings.ocpp_path}/{{charge_point_id}}"
        )
        if settings.ocpp_tls is not None:
            lines.append(
                f"  OCPP TLS  wss://{settings.host}:{settings.ocpp_tls.port}"
                f"{settings.ocpp_path}/{{charge_point_id}}"
            )
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)
