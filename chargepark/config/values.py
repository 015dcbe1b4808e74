"""Reading settings: where a value comes from (a flag, then a `CHARGEPARK_*` env var, then its
default), and the readers that check one value. The kernel's settings and each service's own
(`billing/settings.py`, `ops/settings.py`) are read with these, so every bad value stops
start-up with the same kind of line: the variable (or flag), the value, what is wrong.
"""

from __future__ import annotations

import re
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from chargepark.errors import ConfigError

T = TypeVar("T")

# env var -> (settings key, default). The flag for a key is `--` + key with dashes.
EnvTable = Mapping[str, tuple[str, str]]


class Source:
    """Looks a variable up in flags first, then env, remembering where a value came from."""

    def __init__(self, env: Mapping[str, str], flags: Mapping[str, Any], table: EnvTable) -> None:
        self.env = env
        self.flags = {k: v for k, v in flags.items() if v is not None}
        self.table = table

    def get(self, var: str) -> tuple[str, str]:
        """The raw value of `var` and the name to blame for it (the flag or the variable)."""
        key, default = self.table[var]
        if key in self.flags:
            return str(self.flags[key]), "--" + key.replace("_", "-")
        if var in self.env:
            return self.env[var], var
        return default, var


@dataclass(frozen=True)
class Section(Generic[T]):
    """One service's own settings: the env vars it reads, how it reads them (raising
    ConfigError on a bad value), and its defaults. The process reads every section at start-up
    (chargepark.platform.config); the service takes its value with `of`."""

    name: str
    env: EnvTable
    read: Callable[[Source], T]
    default: Callable[[], T]

    def of(self, settings: Any) -> T:
        """This section's value in `settings` (a chargepark.config.Settings); its defaults when
        the settings were made without it (tests)."""
        value = settings.sections.get(self.name)
        return self.default() if value is None else value


def port(raw: str, name: str) -> int:
    if raw.isdigit() and 0 < int(raw) < 65536:
        return int(raw)
    raise ConfigError(f"{name}: {raw!r} is not a port number (1-65535)")


def positive_int(raw: str, name: str) -> int:
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    raise ConfigError(f"{name}: {raw!r} is not a positive whole number")


def at_least(least: int, raw: str, name: str) -> int:
    if raw.isdigit() and int(raw) >= least:
        return int(raw)
    raise ConfigError(f"{name}: {raw!r} is not a whole number of at least {least}")


def whole_number(raw: str, name: str) -> int:
    if raw.isdigit():
        return int(raw)
    raise ConfigError(f"{name}: {raw!r} is not a whole number (0 or more)")


def seconds_between(low: float, high: float, raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise ConfigError(f"{name}: {raw!r} is not a number of seconds from {low:g} to {high:g}")
    return value


def choice(raw: str, name: str, allowed: tuple[str, ...]) -> str:
    value = raw.lower()
    if value in allowed:
        return value
    raise ConfigError(f"{name}: {raw!r} is not one of {', '.join(allowed)}")


def boolean(raw: str, name: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: {raw!r} is not a boolean (true/false)")


def token(raw: str, name: str) -> str:
    if raw and all(c.isalnum() or c in "-_" for c in raw):
        return raw
    raise ConfigError(f"{name}: {raw!r} may hold only letters, digits, '-' and '_'")


def default_node_id() -> str:
    """The host name (as far as a bus subject token allows) and a random suffix: unique per
    process, also for two processes on one host."""
    host = re.sub(r"[^A-Za-z0-9_-]+", "-", socket.gethostname()).strip("-")[:40] or "node"
    return f"{host}-{secrets.token_hex(4)}"


def node_id(raw: str, name: str) -> str:
    if not raw:
        return default_node_id()
    if len(raw) <= 64:
        return token(raw, name)
    raise ConfigError(f"{name}: at most 64 characters")


def path_prefix(raw: str, name: str) -> str:
    if raw.startswith("/") and " " not in raw and raw != "/":
        return raw.rstrip("/")
    raise ConfigError(f"{name}: {raw!r} is not a URL path such as /ocpp")


def bus_url(raw: str, name: str) -> str | None:
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


def optional_http_url(raw: str, name: str) -> str | None:
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme in ("http", "https") and parts.hostname:
        return raw
    raise ConfigError(f"{name}: {raw!r} is not an http(s) URL")


def optional(raw: str, name: str) -> str | None:
    """A free-form value; empty means unset."""
    return raw or None
