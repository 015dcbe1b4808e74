"""`chargepark sim load`: simulated chargers against a running platform's OCPP endpoint.

Bad flags get one line on stderr and exit code 2. Exit code 0 when the run was measured
(errors are in the report), 1 when no charger could connect and boot or a worker failed,
130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from simulators.load import runner
from simulators.load.fanout import WorkerError, raise_nofile_limit
from simulators.load.frames import MIX_KEYS, OCPP_VERSIONS
from simulators.load.report import machine_info, render
from simulators.load.spec import LoadSpec
from simulators.load.websocket import Endpoint

PROG = "chargepark sim load"
DEFAULT_URL = "ws://127.0.0.1:9000/ocpp"
_ID_PREFIX = re.compile(r"[A-Za-z0-9._-]{0,40}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def parse_cpus(raw: str) -> list[int]:
    """`taskset` list syntax: `1`, `2-3`, `0,2-3`."""
    try:
        cpus: list[int] = []
        for part in raw.split(","):
            lo, _, hi = part.partition("-")
            cpus.extend(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a CPU list like 1 or 2-3") from None
    if not cpus:
        raise argparse.ArgumentTypeError(f"{raw!r} names no CPU")
    return cpus


def parse_mix(raw: str) -> list[str]:
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    bad = [k for k in keys if k not in MIX_KEYS]
    if not keys or bad:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(MIX_KEYS)}")
    return keys


def parse_ocpp(raw: str) -> list[str]:
    versions = list(OCPP_VERSIONS) if raw == "mixed" else [v.strip() for v in raw.split(",")]
    if not versions or any(v not in OCPP_VERSIONS for v in versions):
        raise argparse.ArgumentTypeError(f"choose {', '.join(OCPP_VERSIONS)} or mixed")
    if len(set(versions)) != len(versions):
        raise argparse.ArgumentTypeError("name each version once")
    return versions


def _positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"{raw!r} must be positive")
        return value

    parse.__name__ = kind.__name__
    return parse


def _not_negative(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a number") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{raw!r} must not be negative")
        return value

    parse.__name__ = kind.__name__
    return parse


DESCRIPTION = (
    "Connect simulated OCPP chargers to a running csms, load it with Heartbeat, "
    "StatusNotification and MeterValues calls, and report connections held, calls/s, latency "
    "percentiles and errors. The csms must let the chargers in: CHARGEPARK_OCPP_UNKNOWN=accept, "
    "or the chargers registered beforehand."
)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description=DESCRIPTION)
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The flags, for a parser of one's own (`run_command` then runs what it parsed)."""
    p.add_argument(
        "--url",
        default=DEFAULT_URL,
        help=f"the OCPP endpoint; charger N connects to URL/<id-prefix>N ({DEFAULT_URL})",
    )
    p.add_argument(
        "--connections", type=_positive(int), default=100, metavar="N", help="chargers (100)"
    )
    p.add_argument(
        "--ocpp",
        type=parse_ocpp,
        metavar="VERSION",
        default=["1.6"],
        help="1.6, 2.0.1, or mixed (= 1.6,2.0.1: the chargers alternate) (1.6)",
    )
    p.add_argument(
        "--mix",
        type=parse_mix,
        metavar="LIST",
        default=["heartbeat", "status", "meter"],
        help="the call cycle each charger repeats, from heartbeat,status,meter (all three)",
    )
    p.add_argument(
        "--mode",
        choices=("closed", "open"),
        default="closed",
        help="closed: each charger's next call as soon as the answer arrives (the most the "
        "server can do); open: calls on a fixed schedule, --rate or --interval (closed)",
    )
    pace = p.add_mutually_exclusive_group()
    pace.add_argument(
        "--rate",
        type=_positive(float),
        metavar="R",
        help="open loop: calls/s offered by all chargers",
    )
    pace.add_argument(
        "--interval",
        type=_positive(float),
        metavar="S",
        help="open loop: seconds between one charger's calls (rate = connections / interval)",
    )
    p.add_argument(
        "--duration", type=_positive(float), default=20.0, metavar="S", help="measured (20 s)"
    )
    p.add_argument(
        "--warmup",
        type=_not_negative(float),
        default=2.0,
        metavar="S",
        help="unmeasured, before (2 s)",
    )
    _add_workers_and_timeouts(p)
    _add_identity_and_output(p)


def _add_workers_and_timeouts(p: argparse.ArgumentParser) -> None:
    """How the load is generated (processes, connection pacing) and how long to wait."""
    p.add_argument(
        "--processes",
        type=_positive(int),
        metavar="P",
        default=1,
        help="generator processes sharing the chargers (1: this process)",
    )
    p.add_argument(
        "--connect-concurrency",
        type=_not_negative(int),
        metavar="N",
        default=100,
        help="chargers connecting and booting at once (100; 0: all at once)",
    )
    p.add_argument(
        "--connect-rate",
        type=_positive(float),
        metavar="R",
        help="new connections per second (default: as fast as --connect-concurrency allows)",
    )
    p.add_argument(
        "--connect-timeout",
        type=_positive(float),
        default=30.0,
        metavar="S",
        help="one charger's (30 s)",
    )
    p.add_argument(
        "--setup-timeout",
        type=_positive(float),
        metavar="S",
        default=300.0,
        help="all chargers' connect and boot, beyond the pacing of --connect-rate (300 s)",
    )
    p.add_argument(
        "--timeout",
        type=_positive(float),
        metavar="S",
        default=10.0,
        help="an unanswered call counts as a timeout after this (10 s)",
    )


def _add_identity_and_output(p: argparse.ArgumentParser) -> None:
    """Who the chargers are, and where the report goes besides the screen."""
    p.add_argument(
        "--id-prefix",
        default="load-",
        metavar="PREFIX",
        help="charger ids are PREFIX000000, PREFIX000001... ",
    )
    p.add_argument(
        "--password",
        metavar="PW",
        help="HTTP Basic password of every charger (username: the charger id)",
    )
    p.add_argument("--cafile", metavar="FILE", help="wss: trust the CA certificates in this file")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")
    p.add_argument(
        "--client-cpus",
        type=parse_cpus,
        metavar="LIST",
        help="pin the generator to these CPUs, e.g. 1 or 2-3",
    )


def spec_from_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> LoadSpec:
    try:
        endpoint = Endpoint.from_url(args.url, cafile=args.cafile)
    except ValueError as exc:
        p.error(f"--url: {exc}")
    if args.cafile and not endpoint.tls:
        p.error("--cafile is for a wss:// URL")
    if args.cafile and not Path(args.cafile).is_file():
        p.error(f"--cafile: no file {args.cafile}")
    if args.processes > args.connections:
        p.error("--processes must not exceed --connections")
    rate = args.rate or (args.connections / args.interval if args.interval else 0.0)
    if args.mode == "open" and not rate:
        p.error("--mode open needs --rate (calls/s of all chargers) or --interval")
    if args.mode == "closed" and rate:
        p.error("--rate and --interval are for --mode open")
    if not _ID_PREFIX.fullmatch(args.id_prefix):
        p.error("--id-prefix: up to 40 of the characters A-Z a-z 0-9 . _ -")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        p.error(f"--json: no directory for {args.json}")
    if args.password == "":
        p.error("--password must not be empty")
    if args.client_cpus:
        allowed = os.sched_getaffinity(0)
        if not set(args.client_cpus) <= allowed:
            p.error(f"--client-cpus: this process may use CPUs {sorted(allowed)} only")
    return LoadSpec(
        endpoint=endpoint,
        connections=args.connections,
        ocpp=tuple(args.ocpp),
        mix=tuple(MIX_KEYS[m] for m in args.mix),
        mode=args.mode,
        rate=rate,
        duration=args.duration,
        warmup=args.warmup,
        processes=args.processes,
        connect_concurrency=args.connect_concurrency,
        connect_rate=args.connect_rate or 0.0,
        connect_timeout=args.connect_timeout,
        setup_timeout=args.setup_timeout,
        timeout=args.timeout,
        id_prefix=args.id_prefix,
        password=args.password,
        cpus=tuple(args.client_cpus) if args.client_cpus else None,
    )


def settings_of(load: LoadSpec, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "url": load.endpoint.url,
        "connections": load.connections,
        "ocpp": ",".join(load.ocpp),
        "mix": list(args.mix),
        "mode": load.mode,
        "rate": round(load.rate, 3) if load.mode == "open" else None,
        "interval": round(load.connections / load.rate, 3) if load.mode == "open" else None,
        "duration": load.duration,
        "warmup": load.warmup,
        "processes": load.processes,
        "connect_concurrency": load.connect_concurrency,
        "connect_rate": load.connect_rate or None,
        "timeout": load.timeout,
        "id_prefix": load.id_prefix,
        "password": load.password is not None,
        "client_cpus": list(load.cpus) if load.cpus else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Run `chargepark sim load` with these arguments (default: sys.argv[1:]); the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        load = spec_from_args(parser, args)
    except SystemExit as exc:  # --help, or a bad flag (one line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    return _execute(load, args)


def run_command(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run what `parser` (with `add_arguments`' flags) parsed; a bad combination of flags goes
    to `parser.error`."""
    return _execute(spec_from_args(parser, args), args)


def _execute(load: LoadSpec, args: argparse.Namespace) -> int:
    def say(line: str) -> None:
        print(f"sim load: {line}", file=sys.stderr, flush=True)

    files, _ = raise_nofile_limit()  # inherited by the worker processes
    per_process = -(-load.connections // load.processes)
    if per_process + 64 > files:
        say(
            f"warning: {per_process:,} connections per process, but only {files:,} open files "
            "allowed (ulimit -n); raise the limit or add --processes"
        )
    if load.cpus:
        os.sched_setaffinity(0, load.cpus)

    restore = _stop_on_signals()
    try:
        say(
            f"connecting {load.connections:,} chargers (OCPP {', '.join(load.ocpp)}) "
            f"to {load.endpoint.url}"
        )
        started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        client = runner.run(load, progress=say)
    except KeyboardInterrupt:
        say("interrupted; every connection is closed")
        return 130
    except WorkerError as exc:
        say(str(exc))
        return 1
    finally:
        restore()
    report: dict[str, Any] = {
        "tool": PROG,
        "settings": settings_of(load, args),
        "started_at": started_at,
        "machine": machine_info(),
        **client,
    }
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if client["connections"]["booted"] else 1


def _stop_on_signals() -> Callable[[], None]:
    """SIGTERM (and SIGINT, even when a shell left it ignored) stop the run like Ctrl-C.
    Only the main thread can set handlers; elsewhere the caller's handling stands."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
