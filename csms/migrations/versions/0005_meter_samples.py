"""csms: meter samples.

Revision ID: csms_0005
Revises: csms_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0005"
down_revision = "csms_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meter_samples",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("charger_id", sa.String(48), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("transaction_id", sa.String(36), nullable=True),
        sa.Column("sampled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("measurand", sa.String(48), nullable=False),
        sa.Column("phase", sa.String(8), nullable=True),
        sa.Column("unit", sa.String(16), nullable=True),
        sa.Column("multiplier", sa.Integer, nullable=True),
        sa.Column("context", sa.String(24), nullable=True),
        sa.Column("location", sa.String(8), nullable=True),
        sa.Column("value", sa.String(32), nullable=False),
    )
    op.create_index("ix_meter_samples_charger", "meter_samples", ["charger_id", "sampled_at"])


def downgrade() -> None:
    op.drop_index("ix_meter_samples_charger", table_name="meter_samples")
    op.drop_table("meter_samples")
