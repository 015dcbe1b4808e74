"""Alembic environment of the accounts service (driven by chargepark.db.migrate)."""

from chargepark.db.migrate import run_env
from accounts.store import metadata

run_env(metadata)
