"""Reaching the real PostgreSQL and NATS servers from tests.

Where a server is not reachable the tests that need it are skipped with a clear reason, except
under CI=true, where a missing service is a failure.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
NATS_URL = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    message = f"{service} is not reachable at {host}:{port}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing service is a failure)")
    pytest.skip(f"{message}; this variant needs it")


def require_postgres() -> None:
    require("PostgreSQL", PG_HOST, PG_PORT)


def require_nats() -> None:
    host_port = NATS_URL.split("://", 1)[-1]
    host, _, port = host_port.rpartition(":")
    require("NATS", host, int(port))


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def create_pg_database(name: str | None = None, *, template: str | None = None) -> str:
    """Create a fresh database (a copy of `template` if given); returns its name."""
    import asyncpg

    name = name or unique_name("chargepark_test")
    copy = f' TEMPLATE "{template}"' if template else ""
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await conn.close()
    return name


async def drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
