"""The `chargepark` command's answers to bad input: one line on stderr, exit code 2."""

from __future__ import annotations

import socket

from chargepark.db import migrate
from tests.support.procs import clean_env, free_port, run_cli


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_help_lists_the_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("up", "serve", "migrate"):
        assert command in result.stdout


def test_an_unknown_service_is_refused(tmp_path):
    result = run_cli("serve", "teleport", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "invalid choice: 'teleport'")


def test_a_bad_port_flag_is_refused(tmp_path):
    result = run_cli("up", "--http-port", "eighty", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "--http-port: 'eighty' is not a port number")


def test_a_bad_env_var_is_refused(tmp_path):
    env = clean_env(CHARGEPARK_BUS_URL="amqp://x", CHARGEPARK_DATA_DIR=str(tmp_path))
    result = run_cli("up", env=env)
    assert_one_line_error(result, "CHARGEPARK_BUS_URL")


def test_a_port_in_use_is_refused(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(
            "up",
            "--http-port",
            str(port),
            "--ocpp-port",
            str(free_port()),
            "--data-dir",
            str(tmp_path),
        )
    assert_one_line_error(result, f"HTTP port {port} on 127.0.0.1 is already in use")


def test_an_ocpp_port_in_use_is_refused(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(
            "serve",
            "csms",
            "--port",
            str(free_port()),
            "--ocpp-port",
            str(port),
            "--data-dir",
            str(tmp_path),
            "--migrate",
        )
    assert_one_line_error(result, f"OCPP port {port} on 127.0.0.1 is already in use")


def test_migrate_reports_each_service_revision(tmp_path):
    result = run_cli("migrate", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert f"parking: at revision {migrate.head_revision('parking')}" in result.stdout
    down = run_cli("migrate", "parking", "--downgrade", "base", "--data-dir", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert "parking: at revision base" in down.stdout


def test_migrate_with_a_database_url_needs_a_service(tmp_path):
    result = run_cli("migrate", "--database-url", "sqlite:///x.db", "--data-dir", str(tmp_path))
    assert_one_line_error(result, "--database-url: name the SERVICE")
