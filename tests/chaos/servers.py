"""A private PostgreSQL cluster and a private NATS JetStream server, each on a free port with its
data in a temporary directory, so that a test may stop and restart them without touching the
machine's shared servers.

PostgreSQL refuses to run as root: under root the cluster is made and run as the `postgres`
user (`runuser`), in a directory that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.procs import free_port
from tests.support.services import in_ci

PG_BIN = Path(os.environ.get("TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
NATS_SERVER = os.environ.get("TEST_NATS_SERVER", "/usr/sbin/nats-server")


def _missing(what: str) -> None:
    if in_ci():
        pytest.fail(f"{what} (CI=true: a missing service is a failure)")
    pytest.skip(f"{what}; the chaos test runs its own servers")


def require_binaries() -> None:
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        _missing(f"PostgreSQL's initdb and pg_ctl are not in {PG_BIN} (set TEST_PG_BIN)")
    if not os.access(NATS_SERVER, os.X_OK):
        _missing(f"nats-server is not at {NATS_SERVER} (set TEST_NATS_SERVER)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            _missing("running as root without a `postgres` user to run PostgreSQL as")


def wait_port(port: int, timeout: float, up: bool = True) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                listening = True
        except OSError:
            listening = False
        if listening == up:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"port {port} still {'closed' if up else 'open'} after {timeout} s")
        time.sleep(0.05)


@dataclass
class PrivatePostgres:
    """initdb into a temporary directory; pg_ctl start, restart and stop on a free port."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="chargepark-pg-")))
    port: int = field(default_factory=free_port)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _as_owner(self, *argv: str) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return list(argv)

    def _run(self, *argv: str, timeout: float = 120) -> None:
        # Output to a file, not a pipe: a server pg_ctl starts inherits it and would hold a pipe
        # open (and `subprocess.run` waiting) for as long as it runs.
        out = self.root / "pg_ctl.out"
        with open(out, "wb") as sink:
            done = subprocess.run(
                self._as_owner(*argv), stdout=sink, stderr=subprocess.STDOUT, timeout=timeout
            )
        if done.returncode != 0:
            text = out.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{argv[0]} failed: {text}\n{self.log_tail()}")

    def log_tail(self) -> str:
        log = self.root / "postgres.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def init(self) -> None:
        if os.geteuid() == 0:
            pg = pwd.getpwnam("postgres")
            os.chown(self.root, pg.pw_uid, pg.pw_gid)
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-N"
        )

    def start(self) -> None:
        # fsync off: the data is thrown away after the run; a restart (fast or immediate) still
        # goes through shutdown or crash recovery as it would with fsync on.
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "postgres.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def restart(self, mode: str = "fast") -> None:
        """pg_ctl restart: the options of the last start are kept (postmaster.opts)."""
        log = str(self.root / "postgres.log")
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", log, "-m", mode, "-w", "restart"
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(
                self._as_owner(
                    str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"
                ),
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self, name: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user="postgres", database="postgres"
        )
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()


@dataclass
class PrivateNats:
    """nats-server with JetStream, its store in a temporary directory kept across restarts."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="chargepark-nats-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.root / "nats.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_port(self.port, 20)

    def stop(self) -> None:
        """A clean stop (SIGTERM), as an operator's restart would do it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        wait_port(self.port, 10, up=False)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
