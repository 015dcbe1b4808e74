"""Benchmark of the OCPP hot path: the csms endpoint against a bare websockets responder.

    python -m bench.ocpp_load --target both --connections 100 --duration 20 --mode closed

It starts the target server itself (pinned to one core), opens N WebSocket connections from
127.0.0.1 (pinned to the other core), boots each charger once, then sends a mix of
Heartbeat, StatusNotification and MeterValues CALLs, closed loop (the next call when the answer
arrives) or open loop (each charger on a fixed schedule; latency counts from the scheduled send
time, so a slow server cannot hide its queueing). bench/README.md explains every flag.

The load itself is `simulators.load` (`chargepark sim load`), the installed load generator:
a minimal RFC 6455 client on `asyncio.Protocol`, frames built from pre-made JSON templates,
answers matched by message id without decoding them, in worker processes. This module adds
what a benchmark needs around it: the server's start and stop, CPU pinning, the server's
memory and CPU time, PostgreSQL databases, other commits of the csms, and the side-by-side
comparison with the bare responder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from simulators.load.cli import parse_cpus, parse_mix
from simulators.load.fanout import Pool, die_with_parent, raise_nofile_limit
from simulators.load.frames import MIX_KEYS
from simulators.load.report import client_rows, detail_lines, fmt, headline, machine_info
from simulators.load.spec import LoadSpec
from simulators.load.stats import client_sections
from simulators.load.websocket import Endpoint

HOST = "127.0.0.1"  # the only address this tool ever connects to
REPO_ROOT = Path(__file__).resolve().parent.parent
UNKNOWN_POLICY_ENV = "CHARGEPARK_OCPP_UNKNOWN"
_LOCAL_HOSTS = ("127.0.0.1", "localhost")
ID_PREFIX = "bench-"


# ---------------------------------------------------------------------------------------------
# The server: lifecycle and measurement
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB (empty when it is gone)."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    name, value = line.split(":", 1)
                    out[name] = int(value.split()[0])
    except OSError:
        pass
    return out


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _local_url(url: str, what: str) -> str:
    host = urlsplit(url).hostname
    if host not in _LOCAL_HOSTS:
        raise SystemExit(f"ocpp_load: {what} must point at 127.0.0.1, not {host!r}")
    return url


def _pg_exec(admin_url: str, sql: str) -> None:
    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(admin_url, timeout=10)
        try:
            await conn.execute(sql, timeout=60)
        finally:
            await conn.close(timeout=10)

    asyncio.run(go())


@dataclass
class Server:
    target: str
    proc: subprocess.Popen[bytes]
    port: int
    path_prefix: str
    log_path: Path
    command: list[str]
    notes: list[str]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 5, width: int = 400) -> list[str]:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line[:width] for line in text[-lines:]]

    def log_lines(self) -> int:
        try:
            with open(self.log_path, "rb") as f:
                return sum(1 for _ in f)
        except OSError:
            return 0

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _pin_prefix(cpus: list[int] | None) -> tuple[list[str], Any]:
    """taskset when it exists, else sched_setaffinity in the child before exec."""
    if not cpus:
        return [], None
    taskset = shutil.which("taskset")
    if taskset:
        return [taskset, "-c", ",".join(map(str, cpus))], None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return [], pin


def start_server(
    args: argparse.Namespace, target: str, workdir: Path, db_url: str | None
) -> Server:
    port = free_port()
    prefix, preexec = _pin_prefix(args.server_cpus)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEPARK_")}
    env["PYTHONUNBUFFERED"] = "1"
    notes: list[str] = []
    if target == "bare":
        command = [sys.executable, "-m", "bench.bare_responder", "--port", str(port)]
        cwd = REPO_ROOT
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        path_prefix = "/ocpp/"
    else:
        cwd = Path(args.csms_src).resolve()
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), env.get("PYTHONPATH")]))
        env["CHARGEPARK_LOG_LEVEL"] = "warning"
        env[UNKNOWN_POLICY_ENV] = "accept"
        command = [
            sys.executable, "-m", "chargepark", "serve", "csms", "--host", HOST,
            "--data-dir", str(workdir / "data"), "--migrate",
            "--port", str(free_port()), "--ocpp-port", str(port),
        ]  # fmt: skip
        if db_url:
            command += ["--database-url", db_url]
        if args.gc_stats:
            probe = [str(Path(args.gc_stats).resolve())]
            probe += ["--keep-gc-defaults"] if args.gc_defaults else []
            command[1:2] = ["-m", "bench.gc_probe", *probe, "-m"]
            env["PYTHONPATH"] += os.pathsep + str(REPO_ROOT)  # bench, whatever --csms-src is
        path_prefix = "/ocpp/"
    log_path = workdir / f"{target}.log"

    def launch() -> subprocess.Popen[bytes]:
        def pre() -> None:
            die_with_parent()
            if preexec is not None:
                preexec()

        with open(log_path, "wb") as log:
            return subprocess.Popen(
                prefix + command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
                preexec_fn=pre,
            )

    proc = launch()
    server = Server(target, proc, port, path_prefix, log_path, prefix + command, notes)
    try:
        _wait_listening(server, args.start_timeout)
    except RuntimeError:
        log_text = log_path.read_text(errors="replace")
        if target == "csms" and f"{UNKNOWN_POLICY_ENV}: unknown setting" in log_text:
            # This csms predates the unknown-charger policy: every charger is accepted anyway.
            env.pop(UNKNOWN_POLICY_ENV)
            notes.append(f"this csms does not know {UNKNOWN_POLICY_ENV}; started without it")
            server.proc = launch()
            _wait_listening(server, args.start_timeout)
        else:
            raise
    return server


def _wait_listening(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            tail = "\n  ".join(server.log_tail(10))
            raise RuntimeError(
                f"{server.target} server exited with code {server.proc.returncode}:\n  {tail}"
            )
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((HOST, server.port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{server.target} server did not listen on port {server.port} in {timeout}s")


def load_spec(args: argparse.Namespace, server: Server) -> LoadSpec:
    """The load of one run: the same for every target."""
    return LoadSpec(
        endpoint=Endpoint(HOST, server.port, server.path_prefix),
        connections=args.connections,
        ocpp=(args.ocpp,),
        mix=tuple(MIX_KEYS[m] for m in args.mix),
        mode=args.mode,
        rate=args.rate or 0.0,
        duration=args.duration,
        warmup=args.warmup,
        processes=args.processes,
        connect_concurrency=args.connect_concurrency,
        connect_timeout=args.connect_timeout,
        setup_timeout=args.setup_timeout,
        timeout=args.timeout,
        id_prefix=ID_PREFIX,
        cpus=tuple(args.client_cpus) if args.client_cpus else None,
    )


def run_target(args: argparse.Namespace, target: str) -> dict[str, Any]:
    """Start one server, load it, stop it; returns that run's report."""
    workdir = Path(tempfile.mkdtemp(prefix=f"chargepark-bench-{target}-"))
    server: Server | None = None
    pool: Pool | None = None
    pg_db: str | None = None
    db_url = None
    database = "none"
    try:
        if target == "csms":
            if args.postgres:
                pg_db = f"chargepark_bench_{os.urandom(4).hex()}"
                _pg_exec(args.pg_admin_url, f'CREATE DATABASE "{pg_db}"')
                base = urlsplit(args.pg_admin_url)
                db_url = base._replace(path="/" + pg_db).geturl()
                database = "postgresql"
            elif args.database_url:
                db_url = args.database_url
                database = db_url.split(":", 1)[0]
            else:
                database = "sqlite"
        loadavg = round(os.getloadavg()[0], 2)  # others' work on a shared machine shows here
        server = start_server(args, target, workdir, db_url)
        time.sleep(args.settle)
        pid = server.proc.pid
        rss_before = proc_status(pid).get("VmRSS", 0)

        load = load_spec(args, server)
        pool = Pool(load, "fork")
        ready = pool.gather("ready", load.setup_budget + 60)
        time.sleep(args.settle)
        rss_connected = proc_status(pid).get("VmRSS", 0)

        start_at = time.monotonic() + 0.2
        pool.send(("go", start_at))
        window_start = start_at + args.warmup
        window_end = window_start + args.duration
        time.sleep(max(0.0, window_start - time.monotonic()))
        cpu0 = proc_cpu_seconds(pid)
        time.sleep(max(0.0, window_end - time.monotonic()))
        cpu1 = proc_cpu_seconds(pid)
        results = pool.gather("result", args.timeout + 60)
        status_after = proc_status(pid)
        server_alive = server.alive()
        pool.stop()
        pool = None
    finally:
        with _uninterrupted():
            if pool is not None:
                pool.stop(timeout=10)
            if server is not None:
                server.stop()
            if pg_db is not None:
                with contextlib.suppress(Exception):
                    _pg_exec(args.pg_admin_url, f'DROP DATABASE IF EXISTS "{pg_db}" WITH (FORCE)')
            log_lines, log_tail = (server.log_lines(), server.log_tail(3)) if server else (0, [])
            shutil.rmtree(workdir, ignore_errors=True)

    client = client_sections(load, ready, results)
    opened = client["connections"]["opened"]
    rss_after = status_after.get("VmRSS", 0)
    per_conn = (rss_connected - rss_before) / opened if opened else math.nan
    notes = list(server.notes)
    if not server_alive:
        notes.append(f"the server died during the run (exit code {server.proc.returncode})")
    return {
        "target": target,
        "database": database,
        "server_command": server.command,
        "connections": client["connections"],
        "calls": client["calls"],
        "latency_ms": client["latency_ms"],
        "latency_ms_by_action": client["latency_ms_by_action"],
        "errors": client["errors"],
        "setup": client["setup"],
        "server": {
            "pid": pid,
            "rss_kib_before": rss_before,
            "rss_kib_connected": rss_connected,
            "rss_kib_after": rss_after,
            "rss_kib_peak": status_after.get("VmHWM", 0),
            "rss_kib_per_connection": round(per_conn, 2),
            "cpu_pct": round(100 * (cpu1 - cpu0) / args.duration, 1)
            if cpu0 is not None and cpu1 is not None
            else None,
            "server_calls": sum(r["server_calls"] for r in results),
            "log_lines": log_lines,
            "log_tail": log_tail,
        },
        "generator": client["generator"],
        "loadavg_1m_at_start": loadavg,
        "notes": notes,
    }


@contextlib.contextmanager
def _uninterrupted() -> Any:
    """Clean-up runs to its end: a second Ctrl-C or SIGTERM waits until it is done."""
    caught: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda signum, frame: caught.append(signum))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if caught:
            raise KeyboardInterrupt


def _git(*args: str) -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], capture_output=True, timeout=60, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {out.stderr.decode(errors='replace').strip()}")
    return out.stdout.decode().strip()


def export_revision(rev: str, into: Path) -> dict[str, str]:
    """Extract the tree of `rev` into `into`; returns what was exported."""
    commit = _git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", commit],
        capture_output=True,
        timeout=120,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - Python before 3.11.4
            tar.extractall(into)  # our own repository's tree
    return {"rev": commit, "subject": _git("log", "-1", "--format=%s", commit)}


def describe_source(path: Path) -> dict[str, str]:
    out = subprocess.run(
        ["git", "-C", str(path), "describe", "--always", "--dirty"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    info = {"path": str(path)}
    if out.returncode == 0:
        info["describe"] = out.stdout.decode().strip()
    return info


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def table_rows(run: dict[str, Any]) -> list[tuple[str, str]]:
    srv = run["server"]
    return [
        ("database", run["database"]),
        *client_rows(run),
        ("server RSS before MiB", fmt(srv["rss_kib_before"] / 1024)),
        ("server RSS connected MiB", fmt(srv["rss_kib_connected"] / 1024)),
        ("server RSS after MiB", fmt(srv["rss_kib_after"] / 1024)),
        ("RSS per connection KiB", fmt(srv["rss_kib_per_connection"])),
        ("server CPU %", fmt(srv["cpu_pct"])),
        ("generator CPU %", fmt(run["generator"]["cpu_pct"])),
    ]


def render(report: dict[str, Any]) -> str:
    runs = report["runs"]
    lines = [headline(report["settings"])]
    source = report.get("csms_source")
    if source:
        lines.append(
            "csms from "
            + (
                f"commit {source['rev'][:12]} ({source['subject']})"
                if "rev" in source
                else f"{source['path']} ({source.get('describe', 'not a git checkout')})"
            )
        )
    rows = {r["target"]: dict(table_rows(r)) for r in runs}
    names = [name for name, _ in table_rows(runs[0])]
    targets = [r["target"] for r in runs]
    width = max(len(n) for n in names)
    lines.append(f"{'':<{width}}  " + "  ".join(f"{t:>14}" for t in targets))
    for name in names:
        lines.append(f"{name:<{width}}  " + "  ".join(f"{rows[t][name]:>14}" for t in targets))
    for r in runs:
        lines += detail_lines(r, r["target"])
        for note in r["notes"]:
            lines.append(f"{r['target']}: {note}")
    if "ratio" in report:
        ratio = report["ratio"]
        lines.append(
            "csms/bare: calls/s "
            + fmt(ratio["calls_per_s"], 3)
            + ", RSS per connection "
            + fmt(ratio["rss_per_connection"], 2)
            + ", connect+boot time "
            + fmt(ratio["setup_seconds"], 2)
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.ocpp_load",
        description="Load the OCPP endpoint (csms) and/or a bare websockets responder with "
        "simulated chargers and report throughput, latency, errors and server memory.",
    )
    p.add_argument("--target", choices=("csms", "bare", "both"), default="both")
    p.add_argument("--connections", type=int, default=100, help="chargers to connect (100)")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds (20)")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first (2)")
    p.add_argument("--mode", choices=("closed", "open"), default="closed")
    p.add_argument("--rate", type=float, help="open loop: calls/s offered by all chargers")
    p.add_argument("--processes", type=int, default=1, help="load generator processes (1)")
    p.add_argument("--ocpp", choices=("1.6", "2.0.1"), default="1.6")
    p.add_argument(
        "--mix",
        type=parse_mix,
        default=["heartbeat", "status", "meter"],
        help="the call cycle, from heartbeat,status,meter (all three)",
    )
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    db = p.add_mutually_exclusive_group()
    db.add_argument(
        "--postgres",
        action="store_true",
        help="csms on a fresh PostgreSQL database chargepark_bench_<random>, dropped afterwards",
    )
    db.add_argument("--database-url", help="csms on this (local) database instead of SQLite")
    p.add_argument(
        "--pg-admin-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="where --postgres creates its database",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--csms-src",
        default=str(REPO_ROOT),
        help="the chargepark checkout to run the csms from (this one, as it is on disk)",
    )
    src.add_argument(
        "--csms-rev",
        metavar="REV",
        help="run the csms of this git revision of this repository (exported to a temp dir)",
    )
    p.add_argument("--server-cpus", type=parse_cpus, default=[0], help="CPUs for the server (0)")
    p.add_argument("--client-cpus", type=parse_cpus, default=[1], help="CPUs for the generator (1)")
    p.add_argument("--no-pin", action="store_true", help="pin nothing to any CPU")
    p.add_argument(
        "--connect-concurrency",
        type=int,
        default=100,
        help="chargers connecting and booting at once (100; 0: all at once)",
    )
    p.add_argument("--connect-timeout", type=float, default=30.0, help="per charger (30 s)")
    p.add_argument("--setup-timeout", type=float, default=300.0, help="all chargers (300 s)")
    p.add_argument("--timeout", type=float, default=10.0, help="a call's answer (10 s)")
    p.add_argument("--start-timeout", type=float, default=120.0, help="server start (120 s)")
    p.add_argument("--settle", type=float, default=1.0, help="pause before RSS reads (1 s)")
    p.add_argument(
        "--gc-stats",
        metavar="FILE",
        help="time the csms's garbage collections (bench.gc_probe); write them to FILE at its exit",
    )
    p.add_argument(
        "--gc-defaults",
        action="store_true",
        help="with --gc-stats: undo the csms's GC tuning, to measure what it changes",
    )
    return p


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.connections < 1:
        p.error("--connections must be at least 1")
    if args.duration <= 0 or args.warmup < 0:
        p.error("--duration must be positive and --warmup not negative")
    if not 1 <= args.processes <= args.connections:
        p.error("--processes must be between 1 and --connections")
    if args.mode == "open" and not (args.rate and args.rate > 0):
        p.error("--mode open needs --rate (calls/s offered by all connections together)")
    if args.database_url:
        _local_url(args.database_url, "--database-url")
    _local_url(args.pg_admin_url, "--pg-admin-url")
    if args.no_pin:
        args.server_cpus = args.client_cpus = None
    else:
        allowed = os.sched_getaffinity(0)
        wanted = set(args.server_cpus) | set(args.client_cpus)
        if not wanted <= allowed or set(args.server_cpus) & set(args.client_cpus):
            print(
                f"ocpp_load: CPUs {sorted(allowed)} cannot give server and generator a core "
                "each; nothing is pinned",
                file=sys.stderr,
            )
            args.server_cpus = args.client_cpus = None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    raise_nofile_limit()  # inherited by the server and the workers
    if args.client_cpus:
        os.sched_setaffinity(0, args.client_cpus)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Installed outright: a shell starting us in the background leaves SIGINT ignored.
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    targets = ["bare", "csms"] if args.target == "both" else [args.target]
    settings = {
        k: getattr(args, k)
        for k in (
            "target", "connections", "duration", "warmup", "mode", "rate", "processes", "ocpp",
            "mix", "postgres", "connect_concurrency", "timeout", "server_cpus", "client_cpus",
        )
    }  # fmt: skip
    report: dict[str, Any] = {"settings": settings, "machine": machine_info(), "runs": []}
    export_dir: Path | None = None
    try:
        if "csms" in targets:
            if args.csms_rev:
                export_dir = Path(tempfile.mkdtemp(prefix="chargepark-bench-src-"))
                report["csms_source"] = export_revision(args.csms_rev, export_dir)
                args.csms_src = str(export_dir)
            else:
                report["csms_source"] = describe_source(Path(args.csms_src).resolve())
        for target in targets:
            print(f"ocpp_load: running {target} ...", file=sys.stderr, flush=True)
            report["runs"].append(run_target(args, target))
    except KeyboardInterrupt:
        print("ocpp_load: interrupted; everything it started is stopped", file=sys.stderr)
        return 130
    except (RuntimeError, subprocess.SubprocessError) as exc:
        print(f"ocpp_load: {exc}", file=sys.stderr)
        return 1
    finally:
        if export_dir is not None:
            shutil.rmtree(export_dir, ignore_errors=True)
    runs = {r["target"]: r for r in report["runs"]}
    if "bare" in runs and "csms" in runs:
        bare, csms = runs["bare"], runs["csms"]

        def ratio(a: float | None, b: float | None) -> float | None:
            return round(a / b, 4) if a and b and not math.isnan(a) and not math.isnan(b) else None

        report["ratio"] = {
            "calls_per_s": ratio(csms["calls"]["per_s"], bare["calls"]["per_s"]),
            "rss_per_connection": ratio(
                csms["server"]["rss_kib_per_connection"], bare["server"]["rss_kib_per_connection"]
            ),
            "setup_seconds": ratio(csms["setup"]["seconds"], bare["setup"]["seconds"]),
        }
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    died = any(note.startswith("the server died") for r in report["runs"] for note in r["notes"])
    return 1 if died else 0


if __name__ == "__main__":
    raise SystemExit(main())
