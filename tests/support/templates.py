"""Migrated test databases copied from a template instead of migrated one by one.

Running a service's Alembic history into every test's fresh database cost a few tenths of a
second per test (more on a busy machine), for a result that is the same each time. Each
service's migrations now run once per test process into a template, and a test's database
starts as a copy of it: SQLite's file copied with SQLite's backup API, PostgreSQL's database
created with `CREATE DATABASE ... TEMPLATE`.

A template is named after a hash of the service's migration files (and the frozen kernel tables
they create), so an edited migration gets a new template, never a stale one. Each process builds
its own templates under names nobody else uses (two test runs on one machine do not share, lock
or drop each other's) and drops them when it ends (`drop_all`, called at the end of the session).
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url

from chargepark.config import Settings
from chargepark.db import migrate
from chargepark.db.engine import Database
from tests.support import services

ROOT = Path(__file__).resolve().parents[2]
_TOKEN = uuid.uuid4().hex[:8]  # this process's templates

_sqlite_dir: Path | None = None
_sqlite: dict[str, Path] = {}
_postgres: dict[str, str] = {}


def migrations_hash(service: str) -> str:
    """What the schema a migration run leaves depends on: the service's migration files and
    the kernel tables' frozen definitions they call."""
    digest = hashlib.sha256()
    files = sorted((ROOT / service / "migrations").rglob("*.py"))
    for path in [*files, ROOT / "chargepark" / "db" / "migrate.py"]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def sqlite_path(db: Database) -> Path:
    database = db.engine.url.database
    assert database and database != ":memory:", f"not a SQLite file: {db.url}"
    return Path(database)


async def sqlite_template(service: str) -> Path:
    global _sqlite_dir
    key = f"{service}_{migrations_hash(service)}"
    if key not in _sqlite:
        if _sqlite_dir is None:
            _sqlite_dir = Path(tempfile.mkdtemp(prefix="chargepark-templates-"))
        path = _sqlite_dir / f"{key}.db"
        template = Database(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate.upgrade(service, template)
        finally:
            await template.dispose()
        _sqlite[key] = path
    return _sqlite[key]


async def postgres_template(service: str) -> str:
    key = f"{service}_{migrations_hash(service)}"
    if key not in _postgres:
        name = f"chargepark_tmpl_{key}_{_TOKEN}"
        await services.drop_pg_database(name)
        await services.create_pg_database(name)
        template = Database(services.pg_url(name))
        try:
            await migrate.upgrade(service, template)
        finally:
            await template.dispose()  # a template is copied only while nobody is connected
        _postgres[key] = name
    return _postgres[key]


async def copy_sqlite(service: str, path: Path) -> None:
    """`path` (no database yet, or one nobody has open) as the migrated template."""
    source = sqlite3.connect(await sqlite_template(service))
    target = sqlite3.connect(path)
    try:
        source.backup(target)  # consistent whatever the journal mode, unlike a file copy
    finally:
        target.close()
        source.close()


async def create_postgres(service: str) -> str:
    """A new PostgreSQL database at the service's head revision; returns its name."""
    return await services.create_pg_database(template=await postgres_template(service))


async def migrated(service: str, db: Database) -> None:
    """What `migrate.upgrade(service, db)` does: a SQLite database without a table yet becomes
    a copy of the template (its connections closed first); any other is migrated as it is (on
    PostgreSQL a database created empty costs as much to replace as to migrate)."""
    if db.is_sqlite and _no_tables(sqlite_path(db)):
        await db.dispose()
        await copy_sqlite(service, sqlite_path(db))
        return
    await migrate.upgrade(service, db)


def _no_tables(path: Path) -> bool:
    if not path.exists():
        return True
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
    finally:
        conn.close()


def drop_all() -> None:
    """Drops this process's templates (at the end of the test session, outside any loop)."""
    global _sqlite_dir
    names = list(_postgres.values())
    _postgres.clear()
    if names:
        asyncio.run(_drop_postgres(names))
    _sqlite.clear()
    if _sqlite_dir is not None:
        shutil.rmtree(_sqlite_dir, ignore_errors=True)
        _sqlite_dir = None


async def _drop_postgres(names: list[str]) -> None:
    for name in names:
        await services.drop_pg_database(name)


async def seed(settings: Settings) -> None:
    """Each SQLite database a platform with these settings will open, created migrated (a copy
    of its service's template) where it does not exist yet: the platform's start-up migration
    then finds nothing to do."""
    for service, url in settings.database_urls.items():
        if not url.startswith("sqlite"):
            continue
        path = Path(make_url(url).database or "")
        if path.name and _no_tables(path):
            await copy_sqlite(service, path)
