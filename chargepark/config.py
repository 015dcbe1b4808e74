"""Settings: read once from `CHARGEPARK_*` env vars and CLI flags, validated, then passed down.

A bad value stops start-up with one line naming the variable (or flag) and what is wrong.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from chargepark.errors import ConfigError

SERVICES: tuple[str, ...] = ("accounts", "csms", "parking", "billing", "ops")

# Where each service's REST app is mounted in the embedded process and at the gateway.
MOUNT_PREFIXES: Mapping[str, str] = MappingProxyType(
    {
        "accounts": "/accounts",
        "csms": "/charging",
        "parking": "/parking",
        "billing": "/billing",
        "ops": "/ops",
    }
)

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")
# What the CSMS does with a charger id it has no registration for.
UNKNOWN_CHARGER_POLICIES = ("reject", "pending", "accept")

# env var -> (settings key, default). The flag for a key is `--` + key with dashes.
_SCALARS: dict[str, tuple[str, str]] = {
    "CHARGEPARK_HOST": ("host", "127.0.0.1"),
    "CHARGEPARK_HTTP_PORT": ("http_port", "8080"),
    "CHARGEPARK_OCPP_PORT": ("ocpp_port", "9000"),
    "CHARGEPARK_OCPP_PATH": ("ocpp_path", "/ocpp"),
    "CHARGEPARK_OCPP_UNKNOWN": ("ocpp_unknown", "reject"),
    "CHARGEPARK_OCPP_TLS_PORT": ("ocpp_tls_port", ""),
    "CHARGEPARK_OCPP_TLS_CERT": ("ocpp_tls_cert", ""),
    "CHARGEPARK_OCPP_TLS_KEY": ("ocpp_tls_key", ""),
    "CHARGEPARK_DATA_DIR": ("data_dir", "var"),
    "CHARGEPARK_LOG_LEVEL": ("log_level", "info"),
    "CHARGEPARK_LOG_FORMAT": ("log_format", "json"),
    "CHARGEPARK_BUS_URL": ("bus_url", ""),
    "CHARGEPARK_BUS_STREAM": ("bus_stream", "CHARGEPARK"),
    "CHARGEPARK_BUS_SUBJECT_PREFIX": ("bus_subject_prefix", "chargepark"),
    # This process among several of one service (csms nodes); default: host name + random.
    "CHARGEPARK_NODE_ID": ("node_id", ""),
    "CHARGEPARK_CSMS_NODE_TIMEOUT": ("csms_node_timeout", "60"),
    "CHARGEPARK_DATABASE_URL": ("database_url", ""),
    "CHARGEPARK_DB_MAX_CONNECTIONS": ("db_max_connections", "60"),
    "CHARGEPARK_MAX_BODY_BYTES": ("max_body_bytes", str(1024 * 1024)),
    "CHARGEPARK_EVENTS_RETENTION": ("events_retention", str(7 * 24 * 3600)),
    "CHARGEPARK_JWKS_URL": ("jwks_url", ""),
    "CHARGEPARK_MIGRATE_ON_START": ("migrate_on_start", ""),
    "CHARGEPARK_TOKEN_ISSUER": ("token_issuer", "chargepark"),
    "CHARGEPARK_ACCESS_TOKEN_TTL": ("access_token_ttl", "900"),
    "CHARGEPARK_REFRESH_TOKEN_TTL": ("refresh_token_ttl", str(30 * 24 * 3600)),
    "CHARGEPARK_KEY_SECRET": ("key_secret", ""),
    "CHARGEPARK_BOOTSTRAP_CLIENT_ID": ("bootstrap_client_id", ""),
    "CHARGEPARK_BOOTSTRAP_CLIENT_SECRET": ("bootstrap_client_secret", ""),
    "CHARGEPARK_ACCOUNTS_URL": ("accounts_url", ""),
    "CHARGEPARK_SERVICE_CLIENT_ID": ("service_client_id", ""),
    "CHARGEPARK_SERVICE_CLIENT_SECRET": ("service_client_secret", ""),
    "CHARGEPARK_OCPP_OFFLINE_AUTH": ("ocpp_offline_auth", "reject"),
    "CHARGEPARK_OCPP_SILENCE_TIMEOUT": ("ocpp_silence_timeout", "720"),
    "CHARGEPARK_BILLING_VISIT_TIMEOUT": ("billing_visit_timeout", str(24 * 3600)),
    "CHARGEPARK_BILLING_SETTLE_SEC": ("billing_settle_sec", "60"),
    "CHARGEPARK_BILLING_JOB_INTERVAL": ("billing_job_interval", "15"),
    "CHARGEPARK_BILLING_MAX_DECLINES": ("billing_max_declines", "3"),
    "CHARGEPARK_BILLING_DECLINE_RETRY": ("billing_decline_retry", "3600"),
    "CHARGEPARK_BILLING_UNAVAILABLE_MAX_BACKOFF": ("billing_unavailable_max_backoff", "3600"),
    "CHARGEPARK_STRIPE_API_KEY": ("stripe_api_key", ""),
    "CHARGEPARK_STRIPE_WEBHOOK_SECRET": ("stripe_webhook_secret", ""),
    "CHARGEPARK_STRIPE_API_BASE": ("stripe_api_base", ""),
    # ops: alert evaluation, webhook delivery
    "CHARGEPARK_OPS_ALERT_INTERVAL": ("ops_alert_interval", "15"),
    "CHARGEPARK_OPS_ALERT_WEBHOOK_URL": ("ops_alert_webhook_url", ""),
    "CHARGEPARK_OPS_WEBHOOK_MAX_ATTEMPTS": ("ops_webhook_max_attempts", "12"),
}


def service_database_env(service: str) -> str:
    return f"CHARGEPARK_{service.upper()}_DATABASE_URL"


KNOWN_ENV_VARS: frozenset[str] = frozenset(_SCALARS) | {service_database_env(s) for s in SERVICES}


@dataclass(frozen=True)
class BusSettings:
    url: str | None  # None: the in-process bus (embedded)
    stream: str = "CHARGEPARK"
    subject_prefix: str = "chargepark"

    @property
    def in_process(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class OcppTls:
    port: int
    cert_file: Path
    key_file: Path


@dataclass(frozen=True)
class AuthSettings:
    issuer: str = "chargepark"  # the `iss` of every token; also its audience
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 24 * 3600
    key_secret: str | None = None  # encrypts signing keys at rest when set
    bootstrap_client_id: str | None = None
    bootstrap_client_secret: str | None = None
    # How this service calls accounts (csms looking up id tokens): the base URL and an API
    # client with accounts:read. Embedded, the process makes both up for itself.
    accounts_url: str | None = None
    service_client_id: str | None = None
    service_client_secret: str | None = None


@dataclass(frozen=True)
class BillingSettings:
    # A visit is invoiced once the vehicle has left, its sessions are closed and no event has
    # changed it for `settle_sec` (late events still join it); or, when a session never closes,
    # `visit_timeout_sec` after its last change. The billing job runs every `job_interval_sec`.
    visit_timeout_sec: int = 24 * 3600
    settle_sec: int = 60
    job_interval_sec: int = 15
    # Collecting: a declined payment is retried `decline_retry_sec` later, until `max_declines`
    # declines make the invoice uncollectible; a provider that cannot be reached is retried
    # after 30 s, doubling up to `unavailable_max_backoff_sec`, for as long as it takes.
    max_declines: int = 3
    decline_retry_sec: int = 3600
    unavailable_max_backoff_sec: int = 3600


@dataclass(frozen=True)
class StripeSettings:
    api_key: str | None = None  # set: invoices go to Stripe; unset: the local provider
    webhook_secret: str | None = None
    api_base: str | None = None  # e.g. a Stripe-compatible test server; default Stripe's own


# --- ops settings -------------------------------------------------------------------------


@dataclass(frozen=True)
class OpsSettings:
    # The alert job runs every `alert_interval_sec` (evaluates rules, sends due webhooks). Each
    # incident change is POSTed to `alert_webhook_url` when set, retried with backoff up to
    # `webhook_max_attempts` times.
    alert_interval_sec: float = 15.0
    alert_webhook_url: str | None = None
    webhook_max_attempts: int = 12


# --- end of ops settings --------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    http_port: int = 8080
    ocpp_port: int = 9000
    ocpp_path: str = "/ocpp"
    ocpp_unknown: str = "reject"
    ocpp_offline_auth: str = "reject"  # an unknown id token while accounts is unreachable
    # A charger silent (no OCPP frame) for longer than this has its socket closed (0: never).
    # Twice the heartbeat interval csms asks for (300 s), plus two minutes.
    ocpp_silence_timeout_sec: int = 720
    ocpp_tls: OcppTls | None = None  # security profile 2: the same endpoint over TLS
    data_dir: Path = Path("var")
    log_level: str = "info"
    log_format: str = "json"
    bus: BusSettings = BusSettings(url=None)
    # Names this process to the others, e.g. which csms node holds a charger's socket.
    node_id: str = field(default_factory=lambda: default_node_id())
    # A csms node whose heartbeat is older than this is taken for dead by the others.
    csms_node_timeout_sec: int = 60
    database_urls: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # The most connections one process opens to one service's PostgreSQL database.
    db_max_connections: int = 60
    max_body_bytes: int = 1024 * 1024
    jwks_url: str | None = None
    migrate_on_start: bool = True
    # Sent outbox rows and processed inbox rows older than this are deleted (0: kept forever).
    events_retention_sec: int = 7 * 24 * 3600
    auth: AuthSettings = AuthSettings()
    billing: BillingSettings = BillingSettings()
    stripe: StripeSettings = StripeSettings()
    ops: OpsSettings = OpsSettings()

    def database_url(self, service: str) -> str:
        try:
            return self.database_urls[service]
        except KeyError:
            raise ConfigError(f"no database configured for service {service!r}") from None


class _Source:
    """Looks a key up in flags first, then env, remembering where a value came from."""

    def __init__(self, env: Mapping[str, str], flags: Mapping[str, Any]) -> None:
        self.env = env
        self.flags = {k: v for k, v in flags.items() if v is not None}

    def get(self, var: str) -> tuple[str, str]:
        key, default = _SCALARS[var]
        if key in self.flags:
            return str(self.flags[key]), "--" + key.replace("_", "-")
        if var in self.env:
            return self.env[var], var
        return default, var


def load_settings(
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    *,
    services: tuple[str, ...] = SERVICES,
    migrate_default: bool = True,
) -> Settings:
    """Build the settings of a process that runs `services`; raises ConfigError on bad input."""
    src = _Source(os.environ if env is None else env, flags or {})
    unknown = sorted(k for k in src.env if k.startswith("CHARGEPARK_") and k not in KNOWN_ENV_VARS)
    if unknown:
        # A typo in a setting's name must not pass silently as "default".
        raise ConfigError(f"{unknown[0]}: unknown setting (known: see README, Configuration)")

    host, _ = src.get("CHARGEPARK_HOST")
    data_dir = Path(src.get("CHARGEPARK_DATA_DIR")[0]).expanduser().absolute()
    urls = _database_urls(src, services, data_dir)
    if any(u.startswith("sqlite") for u in urls.values()):
        _ensure_writable_dir(data_dir, src.get("CHARGEPARK_DATA_DIR")[1])

    migrate_raw, migrate_name = src.get("CHARGEPARK_MIGRATE_ON_START")
    return Settings(
        host=host,
        http_port=_port(*src.get("CHARGEPARK_HTTP_PORT")),
        ocpp_port=_port(*src.get("CHARGEPARK_OCPP_PORT")),
        ocpp_path=_path_prefix(*src.get("CHARGEPARK_OCPP_PATH")),
        ocpp_unknown=_choice(*src.get("CHARGEPARK_OCPP_UNKNOWN"), UNKNOWN_CHARGER_POLICIES),
        ocpp_tls=_ocpp_tls(src),
        ocpp_offline_auth=_choice(*src.get("CHARGEPARK_OCPP_OFFLINE_AUTH"), ("reject", "accept")),
        ocpp_silence_timeout_sec=_whole_number(*src.get("CHARGEPARK_OCPP_SILENCE_TIMEOUT")),
        data_dir=data_dir,
        log_level=_choice(*src.get("CHARGEPARK_LOG_LEVEL"), LOG_LEVELS),
        log_format=_choice(*src.get("CHARGEPARK_LOG_FORMAT"), LOG_FORMATS),
        bus=BusSettings(
            url=_bus_url(*src.get("CHARGEPARK_BUS_URL")),
            stream=_token(*src.get("CHARGEPARK_BUS_STREAM")),
            subject_prefix=_token(*src.get("CHARGEPARK_BUS_SUBJECT_PREFIX")),
        ),
        node_id=_node_id(*src.get("CHARGEPARK_NODE_ID")),
        csms_node_timeout_sec=_positive_int(*src.get("CHARGEPARK_CSMS_NODE_TIMEOUT")),
        database_urls=MappingProxyType(urls),
        db_max_connections=_at_least(5, *src.get("CHARGEPARK_DB_MAX_CONNECTIONS")),
        max_body_bytes=_positive_int(*src.get("CHARGEPARK_MAX_BODY_BYTES")),
        jwks_url=_optional_http_url(*src.get("CHARGEPARK_JWKS_URL")),
        migrate_on_start=_bool(migrate_raw, migrate_name) if migrate_raw else migrate_default,
        events_retention_sec=_whole_number(*src.get("CHARGEPARK_EVENTS_RETENTION")),
        auth=_auth_settings(src),
        billing=BillingSettings(
            visit_timeout_sec=_positive_int(*src.get("CHARGEPARK_BILLING_VISIT_TIMEOUT")),
            settle_sec=_whole_number(*src.get("CHARGEPARK_BILLING_SETTLE_SEC")),
            job_interval_sec=_positive_int(*src.get("CHARGEPARK_BILLING_JOB_INTERVAL")),
            max_declines=_positive_int(*src.get("CHARGEPARK_BILLING_MAX_DECLINES")),
            decline_retry_sec=_positive_int(*src.get("CHARGEPARK_BILLING_DECLINE_RETRY")),
            unavailable_max_backoff_sec=_positive_int(
                *src.get("CHARGEPARK_BILLING_UNAVAILABLE_MAX_BACKOFF")
            ),
        ),
        stripe=StripeSettings(
            api_key=src.get("CHARGEPARK_STRIPE_API_KEY")[0] or None,
            webhook_secret=src.get("CHARGEPARK_STRIPE_WEBHOOK_SECRET")[0] or None,
            api_base=_optional_http_url(*src.get("CHARGEPARK_STRIPE_API_BASE")),
        ),
        ops=_ops_settings(src),
    )


def _ops_settings(src: _Source) -> OpsSettings:
    raw, name = src.get("CHARGEPARK_OPS_ALERT_INTERVAL")
    try:
        interval = float(raw)
    except ValueError:
        interval = -1.0
    if not 0.1 <= interval <= 86400:
        raise ConfigError(f"{name}: {raw!r} is not a number of seconds from 0.1 to 86400")
    return OpsSettings(
        alert_interval_sec=interval,
        alert_webhook_url=_optional_http_url(*src.get("CHARGEPARK_OPS_ALERT_WEBHOOK_URL")),
        webhook_max_attempts=_positive_int(*src.get("CHARGEPARK_OPS_WEBHOOK_MAX_ATTEMPTS")),
    )


def _ocpp_tls(src: _Source) -> OcppTls | None:
    port, port_name = src.get("CHARGEPARK_OCPP_TLS_PORT")
    cert, cert_name = src.get("CHARGEPARK_OCPP_TLS_CERT")
    key, key_name = src.get("CHARGEPARK_OCPP_TLS_KEY")
    if not (port or cert or key):
        return None
    for value, name in ((port, port_name), (cert, cert_name), (key, key_name)):
        if not value:
            raise ConfigError(f"{name}: TLS for OCPP needs the port, the certificate and the key")
    for value, name in ((cert, cert_name), (key, key_name)):
        if not os.access(value, os.R_OK):
            raise ConfigError(f"{name}: {value!r} is not a readable file")
    return OcppTls(_port(port, port_name), Path(cert), Path(key))


def _auth_settings(src: _Source) -> AuthSettings:
    client_id, id_name = src.get("CHARGEPARK_BOOTSTRAP_CLIENT_ID")
    secret, secret_name = src.get("CHARGEPARK_BOOTSTRAP_CLIENT_SECRET")
    if bool(client_id) != bool(secret):
        missing = secret_name if client_id else id_name
        raise ConfigError(f"{missing}: set both bootstrap client variables, or neither")
    if client_id:
        _token(client_id, id_name)
        if len(secret) < 16:
            raise ConfigError(f"{secret_name}: use at least 16 characters")
    issuer, issuer_name = src.get("CHARGEPARK_TOKEN_ISSUER")
    if not issuer or len(issuer) > 200:
        raise ConfigError(f"{issuer_name}: {issuer!r} is not a usable issuer name")
    return AuthSettings(
        issuer=issuer,
        access_token_ttl=_positive_int(*src.get("CHARGEPARK_ACCESS_TOKEN_TTL")),
        refresh_token_ttl=_positive_int(*src.get("CHARGEPARK_REFRESH_TOKEN_TTL")),
        key_secret=src.get("CHARGEPARK_KEY_SECRET")[0] or None,
        bootstrap_client_id=client_id or None,
        bootstrap_client_secret=secret or None,
        accounts_url=_optional_http_url(*src.get("CHARGEPARK_ACCOUNTS_URL")),
        service_client_id=src.get("CHARGEPARK_SERVICE_CLIENT_ID")[0] or None,
        service_client_secret=src.get("CHARGEPARK_SERVICE_CLIENT_SECRET")[0] or None,
    )


def _database_urls(src: _Source, services: tuple[str, ...], data_dir: Path) -> dict[str, str]:
    urls: dict[str, str] = {}
    single, single_name = src.get("CHARGEPARK_DATABASE_URL")
    for service in services:
        var = service_database_env(service)
        if src.env.get(var):
            raw, name = src.env[var], var
        elif single and len(services) == 1:
            raw, name = single, single_name
        else:
            urls[service] = f"sqlite+aiosqlite:///{data_dir / (service + '.db')}"
            continue
        urls[service] = normalize_database_url(raw, name)
    if single and len(services) > 1:
        raise ConfigError(
            f"{single_name}: names one database, but this process runs {len(services)} "
            "services; set CHARGEPARK_<SERVICE>_DATABASE_URL for each instead"
        )
    return urls


def normalize_database_url(raw: str, name: str = "database URL") -> str:
    """Accept postgresql:// and sqlite:/// and pick the async drivers chargepark uses."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"{name}: {raw!r} is not a database URL") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
        if not url.database:
            raise ConfigError(f"{name}: the PostgreSQL URL names no database")
    elif backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
        if not url.database:
            raise ConfigError(f"{name}: in-memory SQLite loses data on restart; name a file")
    else:
        raise ConfigError(
            f"{name}: unsupported database {backend!r}; use postgresql://... or sqlite:///..."
        )
    return url.render_as_string(hide_password=False)


def _ensure_writable_dir(path: Path, name: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(
            f"{name}: data dir {str(path)!r} is not writable ({exc.strerror})"
        ) from None


def _port(raw: str, name: str) -> int:
    if raw.isdigit() and 0 < int(raw) < 65536:
        return int(raw)
    raise ConfigError(f"{name}: {raw!r} is not a port number (1-65535)")


def _positive_int(raw: str, name: str) -> int:
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    raise ConfigError(f"{name}: {raw!r} is not a positive whole number")


def _at_least(least: int, raw: str, name: str) -> int:
    if raw.isdigit() and int(raw) >= least:
        return int(raw)
    raise ConfigError(f"{name}: {raw!r} is not a whole number of at least {least}")


def _whole_number(raw: str, name: str) -> int:
    if raw.isdigit():
        return int(raw)
    raise ConfigError(f"{name}: {raw!r} is not a whole number (0 or more)")


def _choice(raw: str, name: str, allowed: tuple[str, ...]) -> str:
    value = raw.lower()
    if value in allowed:
        return value
    raise ConfigError(f"{name}: {raw!r} is not one of {', '.join(allowed)}")


def _bool(raw: str, name: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: {raw!r} is not a boolean (true/false)")


def _token(raw: str, name: str) -> str:
    if raw and all(c.isalnum() or c in "-_" for c in raw):
        return raw
    raise ConfigError(f"{name}: {raw!r} may hold only letters, digits, '-' and '_'")


def default_node_id() -> str:
    """The host name (as far as a bus subject token allows) and a random suffix: unique per
    process, also for two processes on one host."""
    host = re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname()).strip("-")[:40] or "node"
    return f"{host}-{secrets.token_hex(4)}"


def _node_id(raw: str, name: str) -> str:
    if not raw:
        return default_node_id()
    if len(raw) <= 64:
        return _token(raw, name)
    raise ConfigError(f"{name}: at most 64 characters")


def _path_prefix(raw: str, name: str) -> str:
    if raw.startswith("/") and " " not in raw and raw != "/":
        return raw.rstrip("/")
    raise ConfigError(f"{name}: {raw!r} is not a URL path such as /ocpp")


def _bus_url(raw: str, name: str) -> str | None:
    if raw in ("", "inprocess", "in-process"):
        return None
    parts = urlsplit(raw)
    if parts.scheme in ("nats", "tls") and parts.hostname:
        try:
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise ConfigError(f"{name}: {raw!r} has a bad port") from None
        return raw
    raise ConfigError(f"{name}: {raw!r} is not a NATS URL such as nats://127.0.0.1:4222")


def _optional_http_url(raw: str, name: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme in ("http", "https") and parts.hostname:
        return raw
    raise ConfigError(f"{name}: {raw!r} is not an http(s) URL")
