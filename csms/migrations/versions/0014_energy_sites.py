"""csms: the energy manager's sites, lots' EV bays, limits in force and leases.

Revision ID: csms_0014
Revises: csms_0013
"""

import sqlalchemy as sa
from alembic import op

revision = "csms_0014"
down_revision = "csms_0013"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "energy_sites",
        sa.Column("site_id", sa.String(128), primary_key=True),
        sa.Column("phases", sa.Integer, nullable=False),
        sa.Column("voltage", sa.Float, nullable=False),
        sa.Column("limit_amps", sa.Text, nullable=True),
        sa.Column("limit_kw", sa.Float, nullable=True),
        sa.Column("margin_amps", sa.Float, nullable=False),
        sa.Column("schedule", sa.Text, nullable=True),
        sa.Column("charger_max_amps", sa.Float, nullable=False),
        sa.Column("ratings", sa.Text, nullable=True),
        sa.Column("meter_charger", sa.String(48), nullable=True),
        sa.Column("external_limit_amps", sa.Text, nullable=True),
        sa.Column("external_limit_kw", sa.Float, nullable=True),
        sa.Column("external_until", TS, nullable=True),
        sa.Column("other_load_amps", sa.Text, nullable=True),
        sa.Column("other_load_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "energy_site_chargers",
        sa.Column("site_id", sa.String(128), primary_key=True),
        sa.Column("charger_id", sa.String(48), primary_key=True),
    )
    op.create_index("ix_energy_site_chargers_charger", "energy_site_chargers", ["charger_id"])
    op.create_table(
        "energy_lots",
        sa.Column("lot_id", sa.String(128), primary_key=True),
        sa.Column("layout_at", TS, nullable=False),
    )
    op.create_table(
        "energy_lot_bays",
        sa.Column("lot_id", sa.String(128), primary_key=True),
        sa.Column("slot_ui", sa.String(128), primary_key=True),
        sa.Column("charger_id", sa.String(48), nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=True),
    )
    op.create_index("ix_energy_lot_bays_charger", "energy_lot_bays", ["charger_id"])
    op.create_table(
        "energy_in_force",
        sa.Column("charger_id", sa.String(48), primary_key=True),
        sa.Column("evse_id", sa.Integer, primary_key=True),
        sa.Column("site_id", sa.String(128), nullable=False),
        sa.Column("limit_amps", sa.Float, nullable=False),
        sa.Column("refused", sa.Boolean, nullable=False),
        sa.Column("changed_at", TS, nullable=False),
    )
    op.create_index("ix_energy_in_force_site", "energy_in_force", ["site_id"])
    op.create_table(
        "energy_leases",
        sa.Column("site_id", sa.String(128), primary_key=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    # The driver's declared departure, carried on VehicleParked.
    with op.batch_alter_table("bay_vehicles") as batch:
        batch.add_column(sa.Column("departure_at", TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("bay_vehicles") as batch:
        batch.drop_column("departure_at")
    for table in (
        "energy_leases",
        "energy_in_force",
        "energy_lot_bays",
        "energy_lots",
        "energy_site_chargers",
        "energy_sites",
    ):
        op.drop_table(table)
