"""csms: charging sessions (transactions) and the 1.6 transaction id sequence.

Revision ID: csms_0004
Revises: csms_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0004"
down_revision = "csms_0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("charger_id", sa.String(48), nullable=False),
        sa.Column("transaction_id", sa.String(36), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("id_token", sa.String(64), nullable=True),
        sa.Column("customer_id", sa.String(36), nullable=True),
        sa.Column("start_key", sa.String(200), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("meter_start_wh", sa.Integer, nullable=True),
        sa.Column("meter_stop_wh", sa.Integer, nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("stop_reason", sa.String(32), nullable=True),
        sa.Column("last_seq_no", sa.Integer, nullable=True),
        sa.UniqueConstraint("charger_id", "transaction_id", name="uq_sessions_transaction"),
        sa.UniqueConstraint("charger_id", "start_key", name="uq_sessions_start_key"),
    )
    op.create_table(
        "transaction_ids",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("charger_id", sa.String(48), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("transaction_ids")
    op.drop_table("sessions")
