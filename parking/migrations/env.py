"""Alembic environment of the parking service (driven by chargepark.db.migrate)."""

from chargepark.db.migrate import run_env
from parking.store import metadata

run_env(metadata)
