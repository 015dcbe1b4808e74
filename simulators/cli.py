"""`chargepark sim charger`, `chargepark sim run` and `chargepark demo`: their flags and what
they run. Bad input is one line and exit code 2, like every chargepark command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from simulators.cli_values import whole

VERSIONS = ("1.6", "2.0.1")


def _positive(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {raw!r}") from None
    if not 0 < value <= 100_000:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 100000: {raw}")
    return value


def _url(*schemes: str) -> Any:
    def parse(raw: str) -> str:
        if not raw.startswith(tuple(f"{s}://" for s in schemes)) or raw.endswith("://"):
            raise argparse.ArgumentTypeError(f"must start with {' or '.join(schemes)}://: {raw!r}")
        return raw

    return parse


def _password(raw: str) -> str:
    if not 16 <= len(raw) <= 40:
        raise argparse.ArgumentTypeError("16 to 40 characters (csms's rule for charger passwords)")
    return raw


def add_commands(sub: Any) -> None:
    """Add `sim` (charger, load, run) and `demo` to chargepark's sub-commands."""
    sim = sub.add_parser(
        "sim",
        help="simulators: one charge point, or a scenario of chargers and cars",
        description="Outside clients of a running platform: they speak only OCPP and REST.",
    )
    sim_sub = sim.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=type(sim)
    )
    _add_charger(sim_sub)
    _add_load(sim_sub)
    _add_run(sim_sub)
    _add_demo(sub)


def _add_charger(sim_sub: Any) -> None:
    charger = sim_sub.add_parser(
        "charger",
        help="run one simulated charge point in the foreground (Ctrl-C stops it)",
        description="Connect one simulated charge point to a CSMS, boot, heartbeat, report "
        "status and answer every command csms sends (remote start/stop too); prints one line "
        "per event. The charger must be registered (POST /charging/chargers) unless the "
        "platform runs with CHARGEPARK_OCPP_UNKNOWN=accept or pending.",
    )
    charger.add_argument(
        "--url",
        default="ws://127.0.0.1:9000/ocpp",
        type=_url("ws", "wss"),
        help="the CSMS's OCPP endpoint, without the charger id (default ws://127.0.0.1:9000/ocpp)",
    )
    charger.add_argument("--id", required=True, help="the charge point id (its OCPP identity)")
    charger.add_argument("--ocpp", choices=VERSIONS, default="1.6", help="OCPP version")
    charger.add_argument(
        "--connectors",
        type=whole(1, 64),
        default=1,
        metavar="N",
        help="EVSEs (1.6: connectors), default 1",
    )
    charger.add_argument(
        "--connectors-per-evse",
        type=whole(1, 8),
        default=1,
        metavar="N",
        help="2.0.1 only: connectors on each EVSE (default 1)",
    )
    charger.add_argument("--kw", type=_positive, help="power: AC 11 kW, DC 150 kW by default")
    charger.add_argument("--dc", action="store_true", help="a DC fast charger (taper >80%% SoC)")
    charger.add_argument(
        "--password", type=_password, help="security profile 1: HTTP Basic on the handshake"
    )
    charger.add_argument("--ca-file", metavar="PEM", help="wss://: the CA to trust")
    _add_charger_behaviour(charger)
    from simulators.cli_smart import add_smart_flags

    add_smart_flags(charger)


def _add_charger_behaviour(charger: Any) -> None:
    """How the charger runs: its clock, its intervals, a car from the start, its boot data."""
    charger.add_argument(
        "--speed", type=_positive, default=1.0, help="simulated seconds per second (default 1)"
    )
    charger.add_argument(
        "--meter-interval",
        type=whole(1, 86_400),
        default=60,
        metavar="SEC",
        help="simulated seconds between meter samples (default 60)",
    )
    charger.add_argument(
        "--heartbeat",
        type=whole(1, 86_400),
        metavar="SEC",
        help="heartbeat interval (default: the one the CSMS gives at boot)",
    )
    charger.add_argument(
        "--plugged",
        action="store_true",
        help="a car (60 kWh battery at 20%%) is plugged into every EVSE from the start, so a "
        "remote start begins charging at once",
    )
    charger.add_argument("--vendor", default="chargepark", help="BootNotification vendor")
    charger.add_argument("--model", help="BootNotification model (default SIM-AC / SIM-DC)")
    charger.add_argument("--verbose", action="store_true", help="also heartbeats and meter values")


def _add_load(sim_sub: Any) -> None:
    from simulators.load import cli as load_cli

    load = sim_sub.add_parser(
        "load",
        help="load test: many chargers against a running csms; calls/s and latency",
        description=load_cli.DESCRIPTION,
    )
    load_cli.add_arguments(load)
    load.set_defaults(load_parser=load)


def _add_run(sim_sub: Any) -> None:
    run = sim_sub.add_parser(
        "run",
        help="play a scenario (chargers and cars) against a running platform",
        description="Register the scenario's chargers, create its lot, customers, vehicles and "
        "RFID cards over REST, then play every car's and charger's script on a simulated "
        "clock; prints a timeline and a summary (sessions, kWh, invoices). SCENARIO is a TOML "
        "file or the name of a shipped one: single-visit, busy-evening, faults-and-recovery, "
        "lot-energy.",
    )
    run.add_argument("scenario", metavar="SCENARIO", help="a .toml file or a shipped name")
    run.add_argument(
        "--url",
        default="http://127.0.0.1:8080",
        type=_url("http", "https"),
        help="the platform's REST base (default http://127.0.0.1:8080)",
    )
    run.add_argument(
        "--ocpp-url",
        default="ws://127.0.0.1:9000/ocpp",
        type=_url("ws", "wss"),
        help="the OCPP endpoint without the charger id (default ws://127.0.0.1:9000/ocpp)",
    )
    run.add_argument("--token", help="a bearer token with every scope the run needs (admin)")
    run.add_argument("--client-id", help="an API client: tokens come from client_credentials")
    run.add_argument("--client-secret", help="that client's secret")
    run.add_argument("--speed", type=_positive, help="override the scenario's clock speed")
    run.add_argument("--ocpp", choices=VERSIONS, help="every charger speaks this version")
    run.add_argument(
        "--tag",
        help="suffix for every id the run creates (default: a random one, so a scenario can "
        "run again on the same platform); --tag '' for none",
    )
    run.add_argument(
        "--invoice-wait",
        type=_positive,
        default=150.0,
        metavar="SEC",
        help="how long to wait for billing's invoices at the end (default 150)",
    )
    run.add_argument(
        "--retry-for",
        type=_positive,
        default=60.0,
        metavar="SEC",
        help="how long a REST call, or a step waiting for its charger, keeps trying through an "
        "outage (refused connections, 429 after its Retry-After, 502/503/504) before the step "
        "fails (default 60)",
    )
    run.add_argument("--ca-file", metavar="PEM", help="wss://: the CA to trust")
    run.add_argument("--verbose", action="store_true", help="every charger event")
    run.add_argument(
        "--plot", metavar="PNG", help="energy scenarios: draw site power, limit, cars to this PNG"
    )
    run.add_argument(
        "--short",
        action="store_true",
        help="energy scenarios: the short, fast form (fewer cars, a shorter evening) for CI",
    )


def _add_demo(sub: Any) -> None:
    demo = sub.add_parser(
        "demo",
        help="the test drive: the whole platform in this process, one visit end to end",
        description="Start the embedded platform on free ports with a temporary data dir, "
        "create a lot with an EV bay and a charger, a customer with a vehicle and an RFID card, "
        "and play the single-visit scenario on an accelerated clock: park, plug, authorize, "
        "charge, stop, leave; billing invoices the visit and the local provider collects it "
        "(Stripe when CHARGEPARK_STRIPE_* is set). Takes about half a minute.",
    )
    demo.add_argument(
        "--speed", type=_positive, default=480.0, help="simulated seconds per second (480)"
    )
    demo.add_argument("--ocpp", choices=VERSIONS, default="1.6", help="the charger's version")
    demo.add_argument(
        "--keep", action="store_true", help="keep the platform running afterwards (Ctrl-C stops)"
    )


def run(args: argparse.Namespace) -> int:
    from chargepark.errors import ConfigError
    from simulators.scenario.model import ScenarioError

    try:
        if args.command == "demo":
            from simulators.demo import run_demo

            return asyncio.run(run_demo(args.speed, args.ocpp, keep=args.keep))
        if args.action == "charger":
            return _charger(args)
        if args.action == "load":
            from simulators.load.cli import run_command

            return run_command(args.load_parser, args)
        return _scenario(args)
    except (ScenarioError, ValueError) as exc:
        raise ConfigError(str(exc)) from None


def _charger(args: argparse.Namespace) -> int:
    from simulators.chargepoint import ChargePointSimulator, ChargerConfig, PowerCurve
    from simulators.cli_smart import plugged_car, smart_options
    from simulators.clock import SimClock

    if args.ocpp == "1.6" and args.connectors_per_evse != 1:
        raise ValueError("--connectors-per-evse: OCPP 1.6 has one connector per charging point")
    curve = PowerCurve.dc_fast(args.kw or 150.0) if args.dc else PowerCurve.ac(args.kw or 11.0)
    config = ChargerConfig(
        args.id,
        args.url,
        ocpp=args.ocpp,
        evses=args.connectors,
        connectors_per_evse=args.connectors_per_evse,
        curve=curve,
        password=args.password,
        ca_file=args.ca_file,
        vendor=args.vendor,
        model=args.model or ("SIM-DC" if args.dc else "SIM-AC"),
        meter_interval=args.meter_interval,
        heartbeat_interval=args.heartbeat,
        **smart_options(args),
    )
    quiet = set() if args.verbose else {"heartbeat", "meter"}

    def show(event: Any) -> None:
        if event.kind not in quiet:
            print(event.line(), flush=True)

    async def main() -> None:
        logging.getLogger("ocpp").setLevel(logging.CRITICAL)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        cp = ChargePointSimulator(config, clock=SimClock(args.speed), on_event=show)
        print(
            f"simulating {args.id}: OCPP {args.ocpp}, {args.connectors} EVSE(s), "
            f"{curve.describe()}, clock x{args.speed:g}; Ctrl-C stops it",
            flush=True,
        )
        await cp.start()
        if args.plugged:
            for evse in cp.evses:
                await cp.plug(evse, plugged_car(args))
        try:
            await stop.wait()
        finally:
            print(f"{args.id}: stopping", file=sys.stderr, flush=True)
            with contextlib.suppress(Exception):
                await cp.stop()

    asyncio.run(main())
    return 0


def _scenario(args: argparse.Namespace) -> int:
    import secrets

    from simulators.rest import PlatformClient
    from simulators.retry import RetryPolicy
    from simulators.scenario.model import load, resolve
    from simulators.scenario.runner import ScenarioRunner
    from simulators.scenario.summary import render_summary

    if not args.token and not (args.client_id and args.client_secret):
        raise ValueError(
            "give --token, or --client-id and --client-secret (an API client with every scope: "
            "the one `chargepark up` prints at its first start, or `chargepark clients create`)"
        )
    scenario = load(resolve(args.scenario))
    if args.short:
        scenario = scenario.shortened()
    if args.ocpp:
        scenario = scenario.with_version(args.ocpp)
    tag = secrets.token_hex(2).upper() if args.tag is None else args.tag.upper()
    if tag and not tag.isalnum():
        raise ValueError("--tag: letters and digits only")
    scenario = scenario.with_tag(tag)

    async def main() -> int:
        logging.getLogger("ocpp").setLevel(logging.CRITICAL)
        print(
            f"scenario {scenario.name}: {scenario.description}"
            + (f" (ids tagged -{tag})" if tag else ""),
            flush=True,
        )
        async with PlatformClient(
            args.url,
            token=args.token,
            client_id=args.client_id,
            client_secret=args.client_secret,
            retry=RetryPolicy(deadline=args.retry_for),
        ) as client:
            runner = ScenarioRunner(
                scenario,
                client,
                args.ocpp_url,
                speed=args.speed,
                out=lambda line: print(line, flush=True),
                verbose=args.verbose,
                invoice_wait=args.invoice_wait,
                ca_file=args.ca_file,
                retry_for=args.retry_for,
                plot=args.plot,
            )
            summary = await runner.run()
        for line in render_summary(summary, args.url.rstrip("/")):
            print(line)
        return 0

    return asyncio.run(main())
