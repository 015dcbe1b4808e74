"""Load generator for parking's hot path: park and leave over REST, one service process.

    python -m bench.parking_load --duration 20 --concurrency 32

It makes a fresh PostgreSQL database (127.0.0.1:5432, user postgres, trust auth), serves a
JWKS of its own key pair, starts `chargepark serve parking --migrate` on that database pinned
to CPU 0 (`taskset`), creates a lot of `--slots` slots, and then runs `--concurrency` closed
loops from a client process pinned to CPU 1, each on its own keep-alive connection: each loop
owns a vehicle, parks it, makes it leave, and so on (half the calls are parks, half leaves; an
EV every fifth loop). The client is a minimal HTTP/1.1 one (`--client aiohttp` for aiohttp's).
Every call carries a bearer token, as in production; events go to the outbox and its relay
publishes them (in-process bus, or `--nats URL`).

Reports requests/s (park or leave, status 200), latency percentiles, non-200 answers and the
server's CPU use. A script, not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def pinned(cpus: str) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpus] if taskset and os.cpu_count() and os.cpu_count() > 1 else []


# --- token issuer: a key pair, its JWKS served over HTTP, one signed token ---------------------


class Issuer:
    def __init__(self, issuer: str) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.issuer = issuer
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": "bench-1", "alg": "RS256", "use": "sig"}]}

    def token(self, scope: str) -> str:
        import jwt

        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.issuer,
            "sub": "bench",
            "scope": scope,
            "iat": now,
            "exp": now + 3600,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "bench-1"})


async def serve_jwks(issuer: Issuer, port: int) -> Any:
    from aiohttp import web

    async def jwks(_request: web.Request) -> web.Response:
        return web.json_response(issuer.jwks())

    app = web.Application()
    app.router.add_get("/jwks.json", jwks)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    return runner


# --- database ------------------------------------------------------------------------------


async def create_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=HOST, user="postgres", database="postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=HOST, user="postgres", database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class PostgresPinned:
    """PostgreSQL's processes (and the backends they fork from now on) kept to `cpus` for the
    run, then given every CPU again. Otherwise a backend woken by the service's statement
    preempts the service on its own CPU, and the service's run measures PostgreSQL's work
    too (in production the database has a machine of its own). Needs the right to change
    those processes' affinity (root, or the postgres user); without it, says so and goes on."""

    def __init__(self, cpus: set[int]) -> None:
        self.cpus = cpus
        self.pids: list[int] = []

    async def __aenter__(self) -> PostgresPinned:
        import asyncpg

        conn = await asyncpg.connect(host=HOST, user="postgres", database="postgres")
        try:  # the backend's parent, read while the backend lives
            postmaster = _parent_of(await conn.fetchval("SELECT pg_backend_pid()"))
        finally:
            await conn.close()
        self.pids = [postmaster, *_children_of(postmaster)]
        try:
            for pid in self.pids:
                _set_affinity(pid, self.cpus)
        except PermissionError:
            print("bench: PostgreSQL's CPUs cannot be set here; it shares the service's CPU")
            self.pids = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        every = set(range(os.cpu_count() or 1))
        for pid in [*self.pids, *_children_of(self.pids[0])] if self.pids else []:
            _set_affinity(pid, every)


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(c) for c in children)
    return found


def _set_affinity(pid: int, cpus: set[int]) -> None:
    with contextlib.suppress(ProcessLookupError):  # a backend that ended meanwhile
        os.sched_setaffinity(pid, cpus)


# --- the server ----------------------------------------------------------------------------


def stream_of(database: str) -> str:
    return database.upper()


async def delete_stream(url: str, stream: str) -> None:
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(url, allow_reconnect=False)
    try:
        with contextlib.suppress(NotFoundError):
            await nc.jetstream().delete_stream(stream)
    finally:
        await nc.close()


def database_url(database: str, pg_host: str) -> str:
    """TCP to `pg_host`, or PostgreSQL's Unix socket when it names its directory."""
    if pg_host.startswith("/"):
        return f"postgresql://postgres@/{database}?host={pg_host}"
    return f"postgresql://postgres@{pg_host}/{database}"


def start_server(
    port: int,
    database: str,
    jwks_port: int,
    nats: str | None,
    profile: Path | None,
    pg_host: str = HOST,
) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEPARK_")}
    env.update(
        CHARGEPARK_JWKS_URL=f"http://{HOST}:{jwks_port}/jwks.json",
        CHARGEPARK_LOG_LEVEL="warning",
    )
    if nats:
        env["CHARGEPARK_BUS_URL"] = nats
        # A stream of the run's own, deleted afterwards: nothing is left on a shared server.
        env["CHARGEPARK_BUS_STREAM"] = stream_of(database)
        env["CHARGEPARK_BUS_SUBJECT_PREFIX"] = stream_of(database).lower()
    command = [
        *pinned("0"),
        sys.executable,
        *(["-m", "cProfile", "-o", str(profile)] if profile else []),
        "-m",
        "chargepark",
        "serve",
        "parking",
        "--host",
        HOST,
        "--port",
        str(port),
        "--migrate",
        "--database-url",
        database_url(database, pg_host),
    ]
    return subprocess.Popen(command, env=env, cwd=REPO_ROOT)


def wait_ready(port: int, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid(proc: subprocess.Popen) -> int:
    """The Python process itself when started through taskset (which execs, same pid)."""
    return proc.pid


# --- the load ------------------------------------------------------------------------------


def a_lot(slots: int) -> dict[str, Any]:
    per_level = 500
    levels = []
    for rank in range(-(-slots // per_level)):
        first = rank * per_level + 1
        uis = range(first, min(slots, first + per_level - 1) + 1)
        levels.append(
            {
                "level": f"L{rank}",
                "slots": [
                    {
                        "slot_ui": ui,
                        "fits": "CAR",
                        "ev_bay": True,
                        "charger_id": f"CP-{ui}",
                        "connector_id": 1,
                    }
                    if ui % 10 == 0
                    else {"slot_ui": ui, "fits": "CAR"}
                    for ui in uis
                ],
            }
        )
    return {"id": "BENCH", "name": "bench lot", "levels": levels}


class _HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection that sends a request already in bytes and reads the
    answer's status line, Content-Length and body, nothing more. The load generator shares
    this machine with the service and PostgreSQL: a general client (aiohttp's) spent a third
    of a core on it at 1,000 requests/s, which was taken from what is measured."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:  # the service always sends a length; anything else is a bug to see
            self._fail(ConnectionError(f"no Content-Length in {head[:200]!r}"))
            return
        line_end = head.find(b"\r\n", at + 2)
        whole = end + 4 + int(head[at + 17 : line_end if line_end > 0 else len(head)])
        if len(self.buffer) < whole:
            return
        del self.buffer[:whole]
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(exc or ConnectionError("the server closed the connection"))

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    async def send(self, request: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


def http_request(host: str, path: str, token: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


PATHS = ("/lots/BENCH/park", "/lots/BENCH/leave")


def loop_bodies(worker: int, offset: int) -> tuple[bytes, bytes]:
    """A loop's park and leave bodies: its own vehicle, an EV every fifth loop."""
    fuel = "EV" if worker % 5 == 0 else "ICE"
    regnum = f"B{offset + worker:06d}"
    park = json.dumps({"regnum": regnum, "kind": "CAR", "fuel": fuel}).encode()
    return park, json.dumps({"regnum": regnum}).encode()


async def client_loops(
    base: str,
    token: str,
    concurrency: int,
    warmup: float,
    duration: float,
    offset: int,
    client: str = "raw",
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.monotonic()
    counted_from, stop_at = start + warmup, start + warmup + duration
    host, port = base.removeprefix("http://").rsplit(":", 1)

    def count(sent: float, done: float, status: int) -> None:
        if sent >= counted_from and done <= stop_at:
            latencies.append(done - sent)
            statuses[status] = statuses.get(status, 0) + 1

    async def raw_loop(worker: int) -> None:
        bodies = loop_bodies(worker, offset)
        requests = [
            http_request(f"{host}:{port}", path, token, body)
            for path, body in zip(PATHS, bodies, strict=True)
        ]
        loop = asyncio.get_running_loop()
        transport, conn = await loop.create_connection(_HttpConnection, host, int(port))
        try:
            while time.monotonic() < stop_at:
                for request in requests:
                    sent = time.monotonic()
                    status = await conn.send(request)
                    count(sent, time.monotonic(), status)
        finally:
            transport.close()

    if client == "raw":
        await asyncio.gather(*(raw_loop(i) for i in range(concurrency)))
        return {"latencies": latencies, "statuses": statuses}

    import aiohttp

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def aiohttp_loop(worker: int, http: aiohttp.ClientSession) -> None:
        bodies = loop_bodies(worker, offset)
        while time.monotonic() < stop_at:
            for path, body in zip(PATHS, bodies, strict=True):
                sent = time.monotonic()
                async with http.post(base + path, data=body, headers=headers) as r:
                    await r.read()
                count(sent, time.monotonic(), r.status)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        await asyncio.gather(*(aiohttp_loop(i, http) for i in range(concurrency)))
    return {"latencies": latencies, "statuses": statuses}


def client_process(args: tuple[Any, ...], out: Any) -> None:
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    out.send(asyncio.run(client_loops(*args)))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from chargepark.platform.config import load_settings

    issuer = Issuer(load_settings({}).auth.issuer)
    database = f"chargepark_bench_{uuid.uuid4().hex[:8]}"
    await create_database(database)
    pinned_pg = (
        PostgresPinned({args.postgres_cpu})
        if args.postgres_cpu is not None
        else contextlib.nullcontext()
    )
    async with pinned_pg:
        results, cpu_used = await _measure(args, issuer, database)
    latencies = [x for r in results for x in r["latencies"]]
    statuses: dict[int, int] = {}
    for r in results:
        for status, n in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    ok = statuses.get(200, 0)
    per = max(1, args.concurrency // args.processes)
    return {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}",
        "command": " ".join(["python -m bench.parking_load", *sys.argv[1:]]),
        "concurrency": per * args.processes,
        "duration_s": args.duration,
        "requests_per_s": round(ok / args.duration, 1),
        "p50_ms": round(1000 * percentile(latencies, 50), 2),
        "p90_ms": round(1000 * percentile(latencies, 90), 2),
        "p99_ms": round(1000 * percentile(latencies, 99), 2),
        "max_ms": round(1000 * max(latencies, default=float("nan")), 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_cpu_percent": round(100 * cpu_used / args.duration, 1),
        "postgres_cpu": args.postgres_cpu,
        "client": args.client,
        "bus": args.nats or "in-process",
    }


async def _measure(
    args: argparse.Namespace, issuer: Issuer, database: str
) -> tuple[list[dict[str, Any]], float]:
    import aiohttp

    jwks_port, port = free_port(), free_port()
    runner = await serve_jwks(issuer, jwks_port)
    server = start_server(port, database, jwks_port, args.nats, args.profile, args.pg_host)
    try:
        await asyncio.to_thread(wait_ready, port)
        base = f"http://{HOST}:{port}"
        token = issuer.token("parking:read parking:write")
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession() as http,
            http.post(base + "/lots", json=a_lot(args.slots), headers=headers) as r,
        ):
            assert r.status == 201, await r.text()
        processes, pipes = [], []
        per = max(1, args.concurrency // args.processes)
        for i in range(args.processes):
            ours, theirs = multiprocessing.Pipe(duplex=False)
            task = (base, token, per, args.warmup, args.duration, i * per, args.client)
            proc = multiprocessing.Process(target=client_process, args=(task, theirs))
            proc.start()
            processes.append(proc)
            pipes.append(ours)
        await asyncio.sleep(args.warmup)
        cpu_at_start = cpu_seconds(server_pid(server))
        results = [await asyncio.to_thread(pipe.recv) for pipe in pipes]
        cpu_used = cpu_seconds(server_pid(server)) - cpu_at_start
        for proc in processes:
            proc.join()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        await runner.cleanup()
        await drop_database(database)
        if args.nats:
            await delete_stream(args.nats, stream_of(database))
    return results, cpu_used


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20, help="counted seconds")
    parser.add_argument("--warmup", type=float, default=3, help="seconds not counted")
    parser.add_argument("--concurrency", type=int, default=32, help="closed loops in all")
    parser.add_argument("--processes", type=int, default=1, help="client processes")
    parser.add_argument("--slots", type=int, default=2000, help="slots in the lot")
    parser.add_argument("--nats", default=None, help="bus URL (default: in-process bus)")
    parser.add_argument(
        "--postgres-cpu",
        type=int,
        default=None,
        help="keep PostgreSQL on this CPU for the run (with the clients, e.g. 1), so it does "
        "not preempt the service on CPU 0",
    )
    parser.add_argument(
        "--pg-host",
        default=HOST,
        help="the service's PostgreSQL: a host (TCP), or a directory (its Unix socket, e.g. "
        "/var/run/postgresql)",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "aiohttp"),
        default="raw",
        help="the load generator's HTTP client: raw (a minimal keep-alive HTTP/1.1 client, the "
        "default) or aiohttp (as measured before; it costs about twice the CPU per request)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument(
        "--profile", type=Path, default=None, help="run the server under cProfile, stats here"
    )
    args = parser.parse_args(argv)
    report = asyncio.run(run(args))
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
