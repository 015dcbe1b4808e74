"""Alembic environment of the ops service (driven by chargepark.db.migrate)."""

from chargepark.db.migrate import run_env
from ops.store import metadata

run_env(metadata)
