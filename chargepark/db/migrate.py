"""Alembic, driven from code: one migration history per service, in `<service>/migrations`.

Embedded start-up applies them; distributed deployments run `chargepark migrate`. Each service
keeps its own version table, so two services could even share one database.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command, context, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from chargepark.db.engine import Database


def alembic_config(service: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", f"{service}:migrations")
    cfg.attributes["service"] = service
    return cfg


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


async def upgrade(service: str, db: Database, revision: str = "head") -> None:
    await _run(db, alembic_config(service), command.upgrade, revision)


async def downgrade(service: str, db: Database, revision: str = "base") -> None:
    await _run(db, alembic_config(service), command.downgrade, revision)


async def current_revision(service: str, db: Database) -> str | None:
    def read(conn: Connection) -> str | None:
        ctx = MigrationContext.configure(conn, opts={"version_table": version_table(service)})
        return ctx.get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(read)


def head_revision(service: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(service)).get_current_head()


async def _run(db: Database, cfg: Config, fn: Any, revision: str) -> None:
    def go(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        fn(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(go)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    service = context.config.attributes["service"]
    conn: Connection = context.config.attributes["connection"]
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        version_table=version_table(service),
        render_as_batch=conn.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


# The kernel tables as of their first version. Frozen: a later change to chargepark.db.tables
# comes with a new migration in each service, never an edit here.
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TS = sa.DateTime(timezone=True)


def create_kernel_tables_v1() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
    )
    op.create_index("ix_outbox_unsent", "outbox", ["sent_at", "id"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("processed_at", _TS, nullable=False),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("consumer", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failed_at", _TS, nullable=False),
    )


def create_event_retries_v1() -> None:
    """The consumers' retry store (chargepark.events.inbox), added to the kernel tables."""
    op.create_table(
        "event_retries",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("failure", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("deferred_at", _TS, nullable=False),
        sa.Column("next_at", _TS, nullable=False),
    )
    op.create_index("ix_event_retries_due", "event_retries", ["consumer", "next_at"])


def drop_event_retries_v1() -> None:
    op.drop_index("ix_event_retries_due", table_name="event_retries")
    op.drop_table("event_retries")


def drop_kernel_tables_v1() -> None:
    op.drop_table("dead_letters")
    op.drop_table("inbox")
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    op.drop_table("outbox")
