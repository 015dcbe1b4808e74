"""Turning listen failures into one-line start-up errors."""

from __future__ import annotations

import errno


def bind_error(what: str, host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"{what} port {port} on {host} is already in use"
    if exc.errno == errno.EACCES:
        return f"{what} port {port} on {host} needs privileges this process lacks"
    return f"cannot listen for {what} on {host}:{port}: {exc.strerror or exc}"
