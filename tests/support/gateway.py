"""The gateway (nginx, Debian's package) in front of services running on this machine.

Its configuration is deploy/nginx/nginx.conf.template, the file docker-compose.yml runs: the
${GATEWAY_*} placeholders are filled in here with 127.0.0.1 addresses, free ports and a temporary
directory, as the nginx image's entrypoint fills them in from the compose environment. nginx runs
in the foreground as a child of the test, with its pid file, logs, temporary files and cache
under that directory (`nginx -p DIR -c DIR/nginx.conf -e DIR/logs/error.log`), so it needs no
privileges and leaves nothing behind.

Where nginx is not installed, tests that need it are skipped with a clear reason; under CI=true
they fail instead (scripts/services installs it where it can).

Also here: stand-ins for the services behind the gateway (an HTTP service that records what
reaches it, a csms node that echoes over OCPP), the gateway's introspection client and an
operator client of accounts, and a token asked for through the gateway.
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from websockets.sync.server import ServerConnection, serve

from tests.support.procs import free_port
from tests.support.services import in_ci

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy" / "nginx" / "nginx.conf.template"

PLACEHOLDER = re.compile(r"\$\{(GATEWAY_[A-Z0-9_]+)\}")
# Upstream groups of the template and the placeholder that lists each one's servers.
UPSTREAM_PLACEHOLDERS = {
    "accounts": "GATEWAY_ACCOUNTS_SERVERS",
    "csms": "GATEWAY_CSMS_SERVERS",
    "parking": "GATEWAY_PARKING_SERVERS",
    "billing": "GATEWAY_BILLING_SERVERS",
    "ops": "GATEWAY_OPS_SERVERS",
    "csms_ocpp": "GATEWAY_CSMS_OCPP_SERVERS",
}
# The client secret travels in a form body the gateway writes as it is: no escaping there.
_FORM_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")


def placeholders(template: str | None = None) -> set[str]:
    return set(PLACEHOLDER.findall(TEMPLATE.read_text() if template is None else template))


def render(values: Mapping[str, str], template: str | None = None) -> str:
    """The template with every ${GATEWAY_*} replaced, as envsubst does in the nginx image;
    a placeholder without a value is an error rather than text nginx would choke on."""
    text = TEMPLATE.read_text() if template is None else template
    missing = sorted(placeholders(text) - set(values))
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    for name in ("GATEWAY_CLIENT_ID", "GATEWAY_CLIENT_SECRET"):
        if name in values and not _FORM_SAFE.match(values[name]):
            raise ValueError(f"{name} may hold only letters, digits and . _ ~ -")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def server_lines(addresses: Sequence[str]) -> str:
    return " ".join(f"server {address};" for address in addresses)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def require_nginx() -> str:
    binary = nginx_binary()
    if binary is not None:
        return binary
    message = "nginx is not installed (Debian: apt-get install nginx; `make test` does it as root)"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing service is a failure)")
    pytest.skip(f"{message}; the gateway tests need it")


@dataclass
class Gateway:
    """nginx rendered from the template, in front of `upstreams` (group -> host:port list)."""

    root: Path
    upstreams: Mapping[str, Sequence[str]]
    client_id: str
    client_secret: str
    rest_port: int = field(default_factory=free_port)
    ocpp_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    _stderr: Any = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def ocpp_url(self) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp"

    @property
    def conf(self) -> Path:
        return self.root / "nginx.conf"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def values(self) -> dict[str, str]:
        me = "root" if os.geteuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        values = {
            "GATEWAY_USER": me,  # only used when nginx starts as root
            "GATEWAY_LOG_DIR": str(self.logs),
            "GATEWAY_STATE_DIR": str(self.root / "state"),
            "GATEWAY_REST_LISTEN": f"127.0.0.1:{self.rest_port}",
            "GATEWAY_OCPP_LISTEN": f"127.0.0.1:{self.ocpp_port}",
            "GATEWAY_CLIENT_ID": self.client_id,
            "GATEWAY_CLIENT_SECRET": self.client_secret,
        }
        for group, name in UPSTREAM_PLACEHOLDERS.items():
            addresses = self.upstreams[group]
            if group == "csms_ocpp":  # as docker-compose.yml: no node is marked failed
                addresses = [a if "max_fails" in a else f"{a} max_fails=0" for a in addresses]
            values[name] = server_lines(addresses)
        return values

    def write(self) -> Path:
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.root / "state").mkdir(parents=True, exist_ok=True)
        self.conf.write_text(render(self.values()))
        return self.conf

    def command(self, *extra: str) -> list[str]:
        binary = require_nginx()
        prefix = str(self.root) + "/"
        return [
            binary,
            "-p",
            prefix,
            "-c",
            str(self.conf),
            "-e",
            str(self.logs / "error.log"),
            *extra,
        ]

    def check(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t` on the rendered file."""
        self.write()
        return subprocess.run(self.command("-t"), capture_output=True, text=True, timeout=30)

    def start(self, timeout: float = 10.0) -> None:
        tested = self.check()
        assert tested.returncode == 0, f"nginx -t refused the rendered config:\n{tested.stderr}"
        self._stderr = open(self.logs / "stderr.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.command("-g", "daemon off;"), stdout=subprocess.DEVNULL, stderr=self._stderr
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited at start:\n{self.error_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.rest_port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not listen:\n{self.error_log()}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def error_log(self) -> str:
        parts = []
        for name in ("stderr.log", "error.log"):
            path = self.logs / name
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def access_log(self) -> list[dict[str, Any]]:
        path = self.logs / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- stand-ins for the services behind the gateway, and its clients ----------------------------

GATEWAY_CLIENT = ("chargepark-gateway", "gateway-secret-for-tests-0123456789")
ADMIN_CLIENT = ("operator-tool", "operator-secret-for-tests-0123456789")


class Recorder(ThreadingHTTPServer):
    """A stand-in service: answers every request with what it saw, and keeps a list of them."""

    daemon_threads = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.seen: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _RecordingHandler)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def paths(self) -> list[str]:
        return [r["path"] for r in self.seen]


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects
    server: Recorder

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {
            "method": self.command,
            "path": self.path,
            "authorization": self.headers.get("Authorization"),
            "correlation_id": self.headers.get("X-Correlation-ID"),
            "bytes": len(body),
        }
        self.server.seen.append(seen)
        out = json.dumps({"service": self.server.name, **seen}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class OcppNode:
    """A stand-in csms node: a WebSocket server that names itself and echoes each message."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.paths: list[str] = []
        self.server = serve(self._handle, "127.0.0.1", 0, subprotocols=["ocpp1.6", "ocpp2.0.1"])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.socket.getsockname()[1]}"

    def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.paths.append(ws.request.path)
        for message in ws:
            ws.send(json.dumps({"node": self.name, "echo": message}))

    def close(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


def _serve(recorder: Recorder) -> threading.Thread:
    thread = threading.Thread(target=recorder.serve_forever, daemon=True)
    thread.start()
    return thread


def _gateway(root: Path, accounts: str, stubs, ocpp_nodes, secret: str) -> Gateway:
    upstreams = {name: [stub.address] for name, stub in stubs.items()}
    upstreams["accounts"] = [accounts.removeprefix("http://")]
    upstreams["csms_ocpp"] = [node.address for node in ocpp_nodes]
    return Gateway(root, upstreams, GATEWAY_CLIENT[0], secret)


async def _token(gateway: Gateway, scope: str | None = None) -> str:
    raw = base64.b64encode(f"{ADMIN_CLIENT[0]}:{ADMIN_CLIENT[1]}".encode()).decode()
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    async with aiohttp.ClientSession() as http:
        r = await http.post(
            f"{gateway.base_url}/accounts/auth/token",
            data=form,
            headers={"Authorization": f"Basic {raw}"},
        )
        assert r.status == 200, await r.text()
        return (await r.json())["access_token"]
