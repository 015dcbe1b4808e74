"""csms: smart charging. Each charger's limits (read at boot), the operator's profiles per
charger, the profiles a 2.0.1 charger reports holding, the external limits it reports, and an
ISO 15118 car's charging needs and schedule.

Revision ID: csms_0013
Revises: csms_0012
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0013"
down_revision = "csms_0012"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "smart_charging_limits",
        sa.Column("charger_id", sa.String(48), primary_key=True),
        sa.Column("supported", sa.Boolean, nullable=False),
        sa.Column("max_stack_level", sa.Integer, nullable=True),
        sa.Column("units", sa.String(8), nullable=False),
        sa.Column("max_periods", sa.Integer, nullable=True),
        sa.Column("max_profiles", sa.Integer, nullable=True),
        sa.Column("read_at", TS, nullable=False),
    )
    op.create_table(
        "charging_profiles",
        sa.Column("charger_id", sa.String(48), primary_key=True),
        sa.Column("profile_id", sa.Integer, primary_key=True),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("detail", sa.String(512), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "installed_charging_profiles",
        sa.Column("charger_id", sa.String(48), primary_key=True),
        sa.Column("profile_id", sa.Integer, primary_key=True),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("request_id", sa.Integer, nullable=False),
        sa.Column("profile", sa.Text, nullable=False),
        sa.Column("reported_at", TS, nullable=False),
    )
    op.create_table(
        "external_charging_limits",
        sa.Column("charger_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("source", sa.String(8), primary_key=True),
        sa.Column("limit_value", sa.Float, nullable=True),
        sa.Column("unit", sa.String(2), nullable=True),
        sa.Column("grid_critical", sa.Boolean, nullable=True),
        sa.Column("schedule", sa.Text, nullable=True),
        sa.Column("reported_at", TS, nullable=False),
    )
    op.create_table(
        "ev_charging_needs",
        sa.Column("charger_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("requested_transfer", sa.String(16), nullable=True),
        sa.Column("departure", TS, nullable=True),
        sa.Column("energy_wh", sa.Float, nullable=True),
        sa.Column("max_current", sa.Float, nullable=True),
        sa.Column("min_current", sa.Float, nullable=True),
        sa.Column("needs", sa.Text, nullable=True),
        sa.Column("reported_at", TS, nullable=True),
        sa.Column("ev_schedule", sa.Text, nullable=True),
        sa.Column("ev_schedule_at", TS, nullable=True),
    )


def downgrade() -> None:
    for table in (
        "ev_charging_needs",
        "external_charging_limits",
        "installed_charging_profiles",
        "charging_profiles",
        "smart_charging_limits",
    ):
        op.drop_table(table)
