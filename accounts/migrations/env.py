"""Alembic environment of the accounts service (driven by chargepark.db.migrate)."""

from accounts.store import metadata
from chargepark.db.migrate import run_env

run_env(metadata)
