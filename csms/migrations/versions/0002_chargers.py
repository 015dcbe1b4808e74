"""csms: the charger registry and connector status.

Revision ID: csms_0002
Revises: csms_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0002"
down_revision = "csms_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "chargers",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("expected_vendor", sa.String(50), nullable=True),
        sa.Column("expected_model", sa.String(50), nullable=True),
        sa.Column("tariff_id", sa.String(64), nullable=True),
        sa.Column("registration", sa.String(16), nullable=False),
        sa.Column("vendor", sa.String(50), nullable=True),
        sa.Column("model", sa.String(50), nullable=True),
        sa.Column("serial_number", sa.String(50), nullable=True),
        sa.Column("firmware_version", sa.String(50), nullable=True),
        sa.Column("ocpp_version", sa.String(16), nullable=True),
        sa.Column("last_boot_at", TS, nullable=True),
        sa.Column("last_seen_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "connectors",
        sa.Column(
            "charger_id",
            sa.String(48),
            sa.ForeignKey("chargers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("connector_id", sa.Integer, primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(50), nullable=True),
        sa.Column("info", sa.String(512), nullable=True),
        sa.Column("status_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("connectors")
    op.drop_table("chargers")
