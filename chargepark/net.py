"""Turning listen failures into one-line start-up errors."""

from __future__ import annotations

import errno
import socket


def bind_error(what: str, host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"{what} port {port} on {host} is already in use"
    if exc.errno == errno.EACCES:
        return f"{what} port {port} on {host} needs privileges this process lacks"
    return f"cannot listen for {what} on {host}:{port}: {exc.strerror or exc}"


def ensure_port_free(what: str, host: str, port: int) -> None:
    """Fail fast, before databases open and logs flow, when a port is taken.

    The real bind later can still lose a race; it reports the same way.
    """
    from chargepark.errors import ConfigError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(bind_error(what, host, port, exc)) from None
