"""parking: the finders' index of parked vehicles (where is a vehicle, in any lot).

Revision ID: parking_0003
Revises: parking_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "parking_0003"
down_revision = "parking_0002"
branch_labels = None
depends_on = None

PARKED = sa.text("regnum IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_slots_parked_vehicle",
        "slots",
        ["regnum"],
        postgresql_where=PARKED,
        sqlite_where=PARKED,
    )


def downgrade() -> None:
    op.drop_index("ix_slots_parked_vehicle", "slots")
