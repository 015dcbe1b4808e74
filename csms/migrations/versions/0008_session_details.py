"""csms: what a production session record needs beyond start and stop.

Remote starts exist before the charger names a transaction (`pending`, no transaction id yet);
sessions carry the parked vehicle, the tariff in force, how the id token was answered, the
TransactionEvent sequence holes, and where their energy figure came from. `bay_vehicles` keeps
which vehicle parking says stands at which charger.

Revision ID: csms_0008
Revises: csms_0007
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0008"
down_revision = "csms_0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:  # SQLite rebuilds the table for the ALTER
        batch.alter_column("transaction_id", existing_type=sa.String(36), nullable=True)
        batch.add_column(sa.Column("regnum", sa.String(16), nullable=True))
        batch.add_column(sa.Column("tariff_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("remote_start_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("requested_at", TS, nullable=True))
        batch.add_column(sa.Column("auth_status", sa.String(16), nullable=True))
        batch.add_column(sa.Column("seq_missing", sa.String(200), nullable=True))
        batch.add_column(
            sa.Column("offline_events", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("meter_anomalies", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("energy_wh", sa.Integer, nullable=True))
        batch.add_column(sa.Column("energy_source", sa.String(16), nullable=True))
    op.create_index("ix_sessions_id_token_status", "sessions", ["id_token", "status"])
    op.create_index("ix_sessions_charger_status", "sessions", ["charger_id", "status"])
    op.create_index("ix_sessions_remote_start", "sessions", ["charger_id", "remote_start_id"])
    op.create_index(
        "ix_meter_samples_transaction", "meter_samples", ["charger_id", "transaction_id"]
    )
    op.create_table(
        "bay_vehicles",
        sa.Column("lot_id", sa.String(128), primary_key=True),
        sa.Column("regnum", sa.String(16), primary_key=True),
        sa.Column("arrived_at", TS, primary_key=True),
        sa.Column("slot_ui", sa.String(128), nullable=True),
        sa.Column("charger_id", sa.String(128), nullable=True),
        sa.Column("evse_id", sa.Integer, nullable=True),
        sa.Column("left_at", TS, nullable=True),
    )
    op.create_index("ix_bay_vehicles_charger", "bay_vehicles", ["charger_id", "left_at"])


def downgrade() -> None:
    op.drop_index("ix_bay_vehicles_charger", table_name="bay_vehicles")
    op.drop_table("bay_vehicles")
    op.drop_index("ix_meter_samples_transaction", table_name="meter_samples")
    op.drop_index("ix_sessions_remote_start", table_name="sessions")
    op.drop_index("ix_sessions_charger_status", table_name="sessions")
    op.drop_index("ix_sessions_id_token_status", table_name="sessions")
    with op.batch_alter_table("sessions") as batch:
        for column in (
            "energy_source",
            "energy_wh",
            "meter_anomalies",
            "offline_events",
            "seq_missing",
            "auth_status",
            "requested_at",
            "remote_start_id",
            "tariff_id",
            "regnum",
        ):
            batch.drop_column(column)
        batch.alter_column("transaction_id", existing_type=sa.String(36), nullable=False)
