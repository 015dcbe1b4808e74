"""localstripe (PyPI, GPL-3.0): a stateful fake Stripe server, run as a separate process.

It covers customers, payment methods and payment intents/charges; billing's invoice calls are
answered by `tests.support.fake_stripe` (localstripe has no standalone invoices), which can
front a running localstripe (`FakeStripe(upstream=...)`) so one base URL serves both.

The process is started on a free loopback port. localstripe's own command binds every
interface and writes its state to a fixed file under /tmp after each change; the launcher below
runs the same aiohttp app bound to 127.0.0.1 only, keeping its state in memory (a fresh store
every start, as `--from-scratch` gives).
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.support.procs import free_port
from tests.support.services import in_ci

_LAUNCH = """
import sys
from aiohttp import web
import localstripe.resources
localstripe.resources.Store.dump_to_disk = lambda self: None
from localstripe.server import app
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
"""


def require_localstripe() -> None:
    if importlib.util.find_spec("localstripe") is not None:
        return
    message = "localstripe is not installed (pip install -e '.[dev]')"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing tool is a failure)")
    pytest.skip(message)


@contextlib.contextmanager
def running_localstripe(timeout: float = 20.0) -> Iterator[str]:
    """Start localstripe, wait until it accepts connections, yield its base URL, stop it."""
    require_localstripe()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _LAUNCH, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(proc, port, timeout)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"localstripe exited with {proc.returncode}: {err[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"localstripe did not listen on port {port}") from None
            time.sleep(0.05)
