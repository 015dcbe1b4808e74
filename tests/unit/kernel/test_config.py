"""Settings from env and flags: defaults, precedence, and one clear line for each bad value."""

from __future__ import annotations

import pytest

from chargepark.errors import ConfigError
from chargepark.platform.config import KNOWN_ENV_VARS, SERVICES, load_settings


def test_defaults_run_embedded_on_sqlite_files_in_the_data_dir(tmp_path):
    s = load_settings({"CHARGEPARK_DATA_DIR": str(tmp_path)})
    assert (s.host, s.http_port, s.ocpp_port, s.ocpp_path) == ("127.0.0.1", 8080, 9000, "/ocpp")
    assert s.bus.in_process
    assert s.migrate_on_start
    for service in SERVICES:
        assert s.database_url(service) == f"sqlite+aiosqlite:///{tmp_path / service}.db"


def test_flags_win_over_environment(tmp_path):
    env = {"CHARGEPARK_HTTP_PORT": "8081", "CHARGEPARK_DATA_DIR": str(tmp_path)}
    assert load_settings(env, {"http_port": "9999"}).http_port == 9999
    assert load_settings(env, {"http_port": None}).http_port == 8081


def test_postgres_urls_get_the_async_driver(tmp_path):
    s = load_settings(
        {"CHARGEPARK_DATABASE_URL": "postgresql://u:p@db:5432/parking"},
        services=("parking",),
    )
    assert s.database_url("parking") == "postgresql+asyncpg://u:p@db:5432/parking"
    s = load_settings(
        {
            "CHARGEPARK_BILLING_DATABASE_URL": "postgres://db/billing",
            "CHARGEPARK_DATA_DIR": str(tmp_path),
        }
    )
    assert s.database_url("billing") == "postgresql+asyncpg://db/billing"


def test_a_nats_bus_url_selects_jetstream(tmp_path):
    s = load_settings(
        {"CHARGEPARK_BUS_URL": "nats://127.0.0.1:4222", "CHARGEPARK_DATA_DIR": str(tmp_path)}
    )
    assert not s.bus.in_process and s.bus.url == "nats://127.0.0.1:4222"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHARGEPARK_HTTP_PORT": "http"}, "CHARGEPARK_HTTP_PORT: 'http' is not a port number"),
        ({"CHARGEPARK_OCPP_PORT": "70000"}, "CHARGEPARK_OCPP_PORT: '70000' is not a port"),
        ({"CHARGEPARK_LOG_LEVEL": "loud"}, "CHARGEPARK_LOG_LEVEL: 'loud' is not one of"),
        ({"CHARGEPARK_BUS_URL": "redis://x"}, "CHARGEPARK_BUS_URL: 'redis://x' is not a NATS"),
        ({"CHARGEPARK_BUS_URL": "nats://h:port"}, "has a bad port"),
        ({"CHARGEPARK_PARKING_DATABASE_URL": "mysql://h/db"}, "unsupported database 'mysql'"),
        ({"CHARGEPARK_PARKING_DATABASE_URL": "not a url"}, "is not a database URL"),
        ({"CHARGEPARK_PARKING_DATABASE_URL": "postgresql://h"}, "names no database"),
        ({"CHARGEPARK_MAX_BODY_BYTES": "-1"}, "not a positive whole number"),
        ({"CHARGEPARK_JWKS_URL": "ftp://x"}, "CHARGEPARK_JWKS_URL: 'ftp://x' is not an http(s)"),
        ({"CHARGEPARK_HTTP_PROT": "8080"}, "CHARGEPARK_HTTP_PROT: unknown setting"),
        ({"CHARGEPARK_DATABASE_URL": "postgresql://h/db"}, "names one database"),
        ({"CHARGEPARK_MIGRATE_ON_START": "maybe"}, "is not a boolean"),
        ({"CHARGEPARK_EVENTS_RETENTION": "a week"}, "not a whole number"),
        ({"CHARGEPARK_CSMS_NODE_TIMEOUT": "0"}, "CHARGEPARK_CSMS_NODE_TIMEOUT: '0' is not a pos"),
        ({"CHARGEPARK_OCPP_SILENCE_TIMEOUT": "-5"}, "not a whole number"),
        ({"CHARGEPARK_BILLING_MAX_DECLINES": "0"}, "not a positive whole number"),
        ({"CHARGEPARK_BILLING_DECLINE_RETRY": "1h"}, "not a positive whole number"),
        ({"CHARGEPARK_BILLING_UNAVAILABLE_MAX_BACKOFF": ""}, "not a positive whole number"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(tmp_path, env, message):
    with pytest.raises(ConfigError) as caught:
        load_settings({"CHARGEPARK_DATA_DIR": str(tmp_path), **env})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_bad_flag_is_named_as_the_flag(tmp_path):
    with pytest.raises(ConfigError, match=r"^--http-port: 'x' is not a port"):
        load_settings({"CHARGEPARK_DATA_DIR": str(tmp_path)}, {"http_port": "x"})


def test_an_unwritable_data_dir_stops_start_up(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=r"CHARGEPARK_DATA_DIR: data dir .* is not writable"):
        load_settings({"CHARGEPARK_DATA_DIR": str(blocker / "sub")})


def test_every_service_has_a_database_variable():
    for service in SERVICES:
        assert f"CHARGEPARK_{service.upper()}_DATABASE_URL" in KNOWN_ENV_VARS


def test_ocpp_tls_needs_port_certificate_and_a_readable_key(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    base = {"CHARGEPARK_DATA_DIR": str(tmp_path), "CHARGEPARK_OCPP_TLS_PORT": "9443"}
    with pytest.raises(ConfigError, match="needs the port, the certificate and the key"):
        load_settings(base | {"CHARGEPARK_OCPP_TLS_CERT": str(cert)})
    with pytest.raises(ConfigError, match=r"CHARGEPARK_OCPP_TLS_KEY: .* is not a readable file"):
        load_settings(
            base
            | {
                "CHARGEPARK_OCPP_TLS_CERT": str(cert),
                "CHARGEPARK_OCPP_TLS_KEY": str(tmp_path / "missing.key"),
            }
        )
    tls = load_settings(
        base | {"CHARGEPARK_OCPP_TLS_CERT": str(cert), "CHARGEPARK_OCPP_TLS_KEY": str(cert)}
    ).ocpp_tls
    assert tls is not None and tls.port == 9443
