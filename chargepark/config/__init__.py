"""Settings: read once from `CHARGEPARK_*` env vars and CLI flags, validated, then passed down.

A bad value stops start-up with one line naming the variable (or flag) and what is wrong. These
are the kernel's settings (network, database, bus, logging, tokens); a service's own settings
live in the service (`billing/settings.py`, `ops/settings.py`) as a `Section`, read with the
same readers (chargepark.config.values). chargepark.platform.config names the services and
their sections and is what the CLI calls.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from chargepark.config.values import (
    Section,
    Source,
    at_least,
    boolean,
    bus_url,
    choice,
    default_node_id,
    node_id,
    optional_http_url,
    path_prefix,
    port,
    positive_int,
    token,
    whole_number,
)
from chargepark.errors import ConfigError

T = TypeVar("T")

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")

# env var -> (settings key, default). The flag for a key is `--` + key with dashes.
_SCALARS: dict[str, tuple[str, str]] = {
    "CHARGEPARK_HOST": ("host", "127.0.0.1"),
    "CHARGEPARK_HTTP_PORT": ("http_port", "8080"),
    "CHARGEPARK_OCPP_PORT": ("ocpp_port", "9000"),
    "CHARGEPARK_OCPP_PATH": ("ocpp_path", "/ocpp"),
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
}


def service_database_env(service: str) -> str:
    return f"CHARGEPARK_{service.upper()}_DATABASE_URL"


def known_env_vars(
    services: Sequence[str], sections: Sequence[Section[Any]] = ()
) -> frozenset[str]:
    """Every CHARGEPARK_* variable a platform of `services` and `sections` reads."""
    section_vars = {var for section in sections for var in section.env}
    return frozenset(_SCALARS) | section_vars | {service_database_env(s) for s in services}


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
class Settings:
    host: str = "127.0.0.1"
    http_port: int = 8080
    ocpp_port: int = 9000
    ocpp_path: str = "/ocpp"
    ocpp_tls: OcppTls | None = None  # security profile 2: the same endpoint over TLS
    data_dir: Path = Path("var")
    log_level: str = "info"
    log_format: str = "json"
    bus: BusSettings = BusSettings(url=None)
    # Names this process to the others, e.g. which csms node holds a charger's socket.
    node_id: str = field(default_factory=lambda: default_node_id())
    database_urls: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # The most connections one process opens to one service's PostgreSQL database.
    db_max_connections: int = 60
    max_body_bytes: int = 1024 * 1024
    jwks_url: str | None = None
    migrate_on_start: bool = True
    # Sent outbox rows and processed inbox rows older than this are deleted (0: kept forever).
    events_retention_sec: int = 7 * 24 * 3600
    auth: AuthSettings = AuthSettings()
    # Each service's own settings by section name (billing/settings.py, ops/settings.py, ...);
    # a service reads its own with `Section.of(settings)`.
    sections: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def database_url(self, service: str) -> str:
        try:
            return self.database_urls[service]
        except KeyError:
            raise ConfigError(f"no database configured for service {service!r}") from None

    def with_section(self, section: Section[T], value: T) -> Settings:
        """These settings with `value` as `section`'s (tests give a service its settings)."""
        return replace(self, sections=MappingProxyType({**self.sections, section.name: value}))


def read_settings(
    env: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
    *,
    services: tuple[str, ...],
    known_services: Sequence[str] | None = None,
    sections: Sequence[Section[Any]] = (),
    migrate_default: bool = True,
) -> Settings:
    """Build the settings of a process that runs `services` (among `known_services`, whose
    database variables are known too), each of `sections` read after the kernel's own; raises
    ConfigError on bad input. chargepark.platform.config names the services and sections."""
    table = dict(_SCALARS)
    for section in sections:
        table.update(section.env)
    src = Source(os.environ if env is None else env, flags or {}, table)
    known = known_env_vars(known_services or services, sections)
    unknown = sorted(k for k in src.env if k.startswith("CHARGEPARK_") and k not in known)
    if unknown:
        # A typo in a setting's name must not pass silently as "default".
        raise ConfigError(f"{unknown[0]}: unknown setting (known: see README, Configuration)")

    data_dir = Path(src.get("CHARGEPARK_DATA_DIR")[0]).expanduser().absolute()
    urls = _database_urls(src, services, data_dir)
    if any(u.startswith("sqlite") for u in urls.values()):
        _ensure_writable_dir(data_dir, src.get("CHARGEPARK_DATA_DIR")[1])
    settings = replace(
        _kernel_settings(src, migrate_default),
        data_dir=data_dir,
        database_urls=MappingProxyType(urls),
        auth=_auth_settings(src),
    )
    own = {section.name: section.read(src) for section in sections}
    return replace(settings, sections=MappingProxyType(own))


def _kernel_settings(src: Source, migrate_default: bool) -> Settings:
    migrate_raw, migrate_name = src.get("CHARGEPARK_MIGRATE_ON_START")
    return Settings(
        host=src.get("CHARGEPARK_HOST")[0],
        http_port=port(*src.get("CHARGEPARK_HTTP_PORT")),
        ocpp_port=port(*src.get("CHARGEPARK_OCPP_PORT")),
        ocpp_path=path_prefix(*src.get("CHARGEPARK_OCPP_PATH")),
        ocpp_tls=_ocpp_tls(src),
        log_level=choice(*src.get("CHARGEPARK_LOG_LEVEL"), LOG_LEVELS),
        log_format=choice(*src.get("CHARGEPARK_LOG_FORMAT"), LOG_FORMATS),
        bus=BusSettings(
            url=bus_url(*src.get("CHARGEPARK_BUS_URL")),
            stream=token(*src.get("CHARGEPARK_BUS_STREAM")),
            subject_prefix=token(*src.get("CHARGEPARK_BUS_SUBJECT_PREFIX")),
        ),
        node_id=node_id(*src.get("CHARGEPARK_NODE_ID")),
        db_max_connections=at_least(5, *src.get("CHARGEPARK_DB_MAX_CONNECTIONS")),
        max_body_bytes=positive_int(*src.get("CHARGEPARK_MAX_BODY_BYTES")),
        jwks_url=optional_http_url(*src.get("CHARGEPARK_JWKS_URL")),
        migrate_on_start=boolean(migrate_raw, migrate_name) if migrate_raw else migrate_default,
        events_retention_sec=whole_number(*src.get("CHARGEPARK_EVENTS_RETENTION")),
    )


def _ocpp_tls(src: Source) -> OcppTls | None:
    raw_port, port_name = src.get("CHARGEPARK_OCPP_TLS_PORT")
    cert, cert_name = src.get("CHARGEPARK_OCPP_TLS_CERT")
    key, key_name = src.get("CHARGEPARK_OCPP_TLS_KEY")
    if not (raw_port or cert or key):
        return None
    for value, name in ((raw_port, port_name), (cert, cert_name), (key, key_name)):
        if not value:
            raise ConfigError(f"{name}: TLS for OCPP needs the port, the certificate and the key")
    for value, name in ((cert, cert_name), (key, key_name)):
        if not os.access(value, os.R_OK):
            raise ConfigError(f"{name}: {value!r} is not a readable file")
    return OcppTls(port(raw_port, port_name), Path(cert), Path(key))


def _auth_settings(src: Source) -> AuthSettings:
    client_id, id_name = src.get("CHARGEPARK_BOOTSTRAP_CLIENT_ID")
    secret, secret_name = src.get("CHARGEPARK_BOOTSTRAP_CLIENT_SECRET")
    if bool(client_id) != bool(secret):
        missing = secret_name if client_id else id_name
        raise ConfigError(f"{missing}: set both bootstrap client variables, or neither")
    if client_id:
        token(client_id, id_name)
        if len(secret) < 16:
            raise ConfigError(f"{secret_name}: use at least 16 characters")
    issuer, issuer_name = src.get("CHARGEPARK_TOKEN_ISSUER")
    if not issuer or len(issuer) > 200:
        raise ConfigError(f"{issuer_name}: {issuer!r} is not a usable issuer name")
    return AuthSettings(
        issuer=issuer,
        access_token_ttl=positive_int(*src.get("CHARGEPARK_ACCESS_TOKEN_TTL")),
        refresh_token_ttl=positive_int(*src.get("CHARGEPARK_REFRESH_TOKEN_TTL")),
        key_secret=src.get("CHARGEPARK_KEY_SECRET")[0] or None,
        bootstrap_client_id=client_id or None,
        bootstrap_client_secret=secret or None,
        accounts_url=optional_http_url(*src.get("CHARGEPARK_ACCOUNTS_URL")),
        service_client_id=src.get("CHARGEPARK_SERVICE_CLIENT_ID")[0] or None,
        service_client_secret=src.get("CHARGEPARK_SERVICE_CLIENT_SECRET")[0] or None,
    )


def _database_urls(src: Source, services: tuple[str, ...], data_dir: Path) -> dict[str, str]:
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
