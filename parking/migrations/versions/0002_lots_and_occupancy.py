"""parking: lots, slots (and who is in each), the occupancy history, csms's bay state.

Revision ID: parking_0002
Revises: parking_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "parking_0002"
down_revision = "parking_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lots",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("ev_bays_for_ice", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "slots",
        sa.Column("lot_id", sa.String(32), sa.ForeignKey("lots.id"), primary_key=True),
        sa.Column("slot_ui", sa.Integer, primary_key=True),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("level_rank", sa.Integer, nullable=False),
        sa.Column("fits", sa.String(16), nullable=False),
        sa.Column("ev_bay", sa.Boolean, nullable=False),
        sa.Column("charger_id", sa.String(48), nullable=True),
        sa.Column("connector_id", sa.Integer, nullable=True),
        sa.Column("in_service", sa.Boolean, nullable=False),
        sa.Column("regnum", sa.String(16), nullable=True),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column("fuel", sa.String(8), nullable=True),
        sa.Column("since", TS, nullable=True),
        sa.UniqueConstraint("lot_id", "regnum"),
        sa.UniqueConstraint("charger_id", "connector_id"),
    )
    free = sa.text("regnum IS NULL AND in_service IS true")
    op.create_index(
        "ix_slots_free",
        "slots",
        ["lot_id", "fits", "ev_bay", "level_rank", "slot_ui"],
        postgresql_where=free,
        sqlite_where=free,
    )
    op.create_table(
        "events_occupancy",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("lot_id", sa.String(32), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("slot_ui", sa.Integer, nullable=False),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("regnum", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("fuel", sa.String(8), nullable=False),
        sa.Column("ev_bay", sa.Boolean, nullable=False),
        sa.Column("charger_id", sa.String(48), nullable=True),
        sa.Column("connector_id", sa.Integer, nullable=True),
        sa.Column("arrived_at", TS, nullable=True),
        sa.Column("duration_sec", sa.Integer, nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_index("ix_events_occupancy_lot_ts", "events_occupancy", ["lot_id", "ts"])
    op.create_index("ix_events_occupancy_vehicle", "events_occupancy", ["lot_id", "regnum", "id"])
    op.create_table(
        "connector_status",
        sa.Column("charger_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(128), nullable=True),
        sa.Column("status_at", TS, nullable=False),
    )
    op.create_table(
        "charging_sessions",
        sa.Column("session_id", sa.String(128), primary_key=True),
        sa.Column("charger_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("meter_start_wh", sa.BigInteger, nullable=True),
        sa.Column("regnum", sa.String(16), nullable=True),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("energy_wh", sa.BigInteger, nullable=True),
        sa.Column("kwh", sa.String(32), nullable=True),
    )
    op.create_index("ix_charging_sessions_bay", "charging_sessions", ["charger_id", "evse_id"])
    op.create_table(
        "energy_readings",
        sa.Column("charger_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("energy_wh", sa.BigInteger, nullable=False),
        sa.Column("read_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "energy_readings",
        "charging_sessions",
        "connector_status",
        "events_occupancy",
        "slots",
        "lots",
    ):
        op.drop_table(table)
