"""Requests the HTTP parser refuses, sent as raw bytes to the real processes: every edge answers
problem+json and logs at most one line per request, never a traceback."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chargepark.platform.config import MOUNT_PREFIXES, SERVICES
from tests.support.procs import CHARGEPARK, clean_env, free_port, wait_http

# name: (request with {path}, expected status). Each is something aiohttp's parser rejects.
MALFORMED: dict[str, tuple[bytes, int]] = {
    "nul-in-header": (b"GET {path} HTTP/1.1\r\nHost: a\r\nX-Note: a\x00b\r\n\r\n", 400),
    "negative-content-length": (
        b"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        b"Content-Length: -1\r\n\r\n{}",
        400,
    ),
    "bad-method": (b"G@T {path} HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    "bad-version": (b"GET {path} HTTP/9.9\r\nHost: a\r\n\r\n", 400),
    "header-too-long": (
        b"GET {path} HTTP/1.1\r\nHost: a\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
        431,
    ),
    "too-many-headers": (
        b"GET {path} HTTP/1.1\r\nHost: a\r\n"
        + b"".join(b"X-%d: a\r\n" % i for i in range(200))
        + b"\r\n",
        400,
    ),
    "bad-chunk-size": (
        b"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        400,
    ),
    "length-and-chunked": (
        b"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n{}",
        400,
    ),
    "invalid-url": (b"GET http://[::1 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
}


CLIENT_ID, CLIENT_SECRET = "edge-tests", "edge-tests-secret-0123456789abcdef"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def exchange(port: int, raw: bytes) -> Answer:
    """Sends `raw` and reads until the server closes (it always closes after a refusal)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return Answer(int(status_line.split()[1]), headers, body)


def assert_problem(answer: Answer, status: int) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"].startswith("application/problem+json"), answer
    doc = json.loads(answer.body)
    assert doc["status"] == status and doc["title"] and doc["type"], doc
    assert doc["detail"], doc


class Running:
    def __init__(self, args: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.log, self.port = log, port
        self._err = log.open("w")
        self.proc = subprocess.Popen(
            [*CHARGEPARK, *args], env=env, stdout=subprocess.DEVNULL, stderr=self._err
        )

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self._err.close()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory) -> Iterator[tuple[Running, int]]:
    data = tmp_path_factory.mktemp("up")
    port, ocpp = free_port(), free_port()
    env = clean_env(
        CHARGEPARK_DATA_DIR=str(data),
        CHARGEPARK_HTTP_PORT=str(port),
        CHARGEPARK_OCPP_PORT=str(ocpp),
        CHARGEPARK_OCPP_UNKNOWN="accept",  # the handshake goes as far as the library's checks
        CHARGEPARK_BOOTSTRAP_CLIENT_ID=CLIENT_ID,
        CHARGEPARK_BOOTSTRAP_CLIENT_SECRET=CLIENT_SECRET,
    )
    running = Running(["up"], env, data / "stderr.log", port)
    try:
        for prefix in MOUNT_PREFIXES.values():
            assert wait_http(f"http://127.0.0.1:{port}{prefix}/healthz") == 200
        yield running, ocpp
    finally:
        running.stop()


@pytest.fixture(scope="module")
def standalone(tmp_path_factory) -> Iterator[Running]:
    data = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = clean_env(CHARGEPARK_DATA_DIR=str(data))
    args = ["serve", "parking", "--migrate", "--port", str(port), "--data-dir", str(data)]
    running = Running(args, env, data / "stderr.log", port)
    try:
        assert wait_http(f"http://127.0.0.1:{port}/healthz") == 200
        yield running
    finally:
        running.stop()


def assert_quiet(running: Running, requests: int) -> None:
    lines = running.log_lines()
    assert not [ln for ln in lines if "exc" in ln or ln["level"] in ("error", "critical")], lines
    refused = [ln for ln in lines if ln["logger"] == "chargepark.http.server"]
    assert 0 < len(refused) <= requests
    assert all(ln["level"] == "warning" and "\n" not in ln["msg"] for ln in refused)


@pytest.mark.parametrize("service", SERVICES)
def test_every_mounted_service_answers_malformed_requests_with_problems(embedded, service):
    running, _ = embedded
    path = (MOUNT_PREFIXES[service] + "/healthz").encode()
    for name, (raw, status) in MALFORMED.items():
        answer = exchange(running.port, raw.replace(b"{path}", path))
        assert_problem(answer, status)
        assert b"Traceback" not in answer.body, name
    assert_quiet(running, requests=len(MALFORMED) * len(SERVICES))


def test_a_standalone_service_answers_malformed_requests_with_problems(standalone):
    for raw, status in MALFORMED.values():
        assert_problem(exchange(standalone.port, raw.replace(b"{path}", b"/healthz")), status)
    assert_quiet(standalone, requests=len(MALFORMED))


def test_the_ocpp_port_refuses_plain_http_with_problems(embedded):
    running, ocpp = embedded
    not_websocket = b"GET /ocpp/CP-1 HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
    assert_problem(exchange(ocpp, not_websocket), 426)
    no_subprotocol = b"GET /ocpp/CP-1 HTTP/1.1\r\nHost: a\r\n\r\n"
    assert_problem(exchange(ocpp, no_subprotocol), 400)
    too_long = b"GET /ocpp/CP-1 HTTP/1.1\r\nHost: a\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n"
    assert_problem(exchange(ocpp, too_long), 431)
    assert not [ln for ln in running.log_lines() if "exc" in ln]


def a_token(port: int) -> str:
    form = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    ).encode()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/auth/token", data=form) as r:
        return json.load(r)["access_token"]


def test_a_body_that_cannot_be_decoded_is_a_400_problem_without_a_traceback(embedded):
    running, _ = embedded
    not_gzip = b"not gzip at all"

    def post(auth: bytes) -> Answer:
        head = (
            b"POST /parking/lots HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
            + auth
            + b"Content-Type: application/json\r\nContent-Encoding: gzip\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(not_gzip)
        )
        return exchange(running.port, head + not_gzip)

    # Refused before the body is read; aiohttp then drains it, and that fails too.
    assert_problem(post(b""), 401)
    token = a_token(running.port).encode()
    answer = post(b"Authorization: Bearer " + token + b"\r\n")
    assert_problem(answer, 400)
    assert "cannot be read" in json.loads(answer.body)["detail"]
    lines = running.log_lines()
    assert not [ln for ln in lines if "exc" in ln or ln["level"] in ("error", "critical")], lines
