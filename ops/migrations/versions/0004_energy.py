"""ops: lot energy management: site load reports, their chargers' lines, smart charging
refusals; a tolerance for over-limit rules; and the built-in rules watching them.

Revision ID: ops_0004
Revises: ops_0003
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "ops_0004"
down_revision = "ops_0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
PER_PHASE = ("limit_amps", "other_load_amps", "allocated_amps", "drawn_amps")

# The rules ops ships with, enabled: operators may redefine, disable or delete them like any
# other (a deleted one stays deleted). Ids are fixed so that they are recognizable.
BUILTIN_RULES = (
    ("builtin-site-over-limit", "site over its limit", "site_over_limit", "critical", 0),
    (
        "builtin-charger-over-limit",
        "charger draws more than its limit",
        "charger_over_limit",
        "warning",
        60,
    ),
    (
        "builtin-smart-charging-refused",
        "charger refuses smart charging",
        "smart_charging_refused",
        "warning",
        0,
    ),
)


def upgrade() -> None:
    op.create_table(
        "site_loads",
        sa.Column("site_id", sa.String(128), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("phases", sa.Integer, nullable=False),
        sa.Column("voltage", sa.Float, nullable=False),
        *(
            sa.Column(f"{name}_l{n}", sa.Float, nullable=False)
            for name in PER_PHASE
            for n in (1, 2, 3)
        ),
        sa.Column("power_kw", sa.Float, nullable=False),
        sa.Column("limit_kw", sa.Float, nullable=False),
        sa.Column("allocated_kw", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("site_id", "ts", name="pk_site_loads"),
    )
    op.create_index("ix_site_loads_ts", "site_loads", ["ts"])
    op.create_table(
        "sites",
        sa.Column("site_id", sa.String(128), primary_key=True),
        sa.Column("last_at", TS, nullable=False),
    )
    op.create_table(
        "charger_loads",
        sa.Column("charger_id", sa.String(128), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("site_id", sa.String(128), nullable=False),
        sa.Column("limit_amps", sa.Float, nullable=False),
        sa.Column("drawn_amps", sa.Float, nullable=True),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("charger_id", "evse_id", "ts", name="pk_charger_loads"),
    )
    op.create_index("ix_charger_loads_site_ts", "charger_loads", ["site_id", "ts"])
    op.create_index("ix_charger_loads_ts", "charger_loads", ["ts"])
    op.create_table(
        "smart_charging_refusals",
        sa.Column("charger_id", sa.String(128), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("site_id", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.PrimaryKeyConstraint("charger_id", "ts", name="pk_smart_charging_refusals"),
    )
    op.create_index("ix_smart_charging_refusals_ts", "smart_charging_refusals", ["ts"])
    with op.batch_alter_table("alert_rules") as batch:
        batch.add_column(sa.Column("tolerance_amps", sa.Float, nullable=True))
    rules = sa.table(
        "alert_rules",
        *(
            sa.column(name)
            for name in (
                "id",
                "name",
                "kind",
                "severity",
                "window_sec",
                "ev_only",
                "enabled",
                "created_at",
                "updated_at",
                "evaluated_at",
            )
        ),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        rules,
        [
            {
                "id": rule_id,
                "name": name,
                "kind": kind,
                "severity": severity,
                "window_sec": window,
                "ev_only": False,
                "enabled": True,
                "created_at": now,
                "updated_at": now,
                "evaluated_at": now,
            }
            for rule_id, name, kind, severity, window in BUILTIN_RULES
        ],
    )


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM alert_rules WHERE id IN :ids").bindparams(
            sa.bindparam("ids", [r[0] for r in BUILTIN_RULES], expanding=True)
        )
    )
    with op.batch_alter_table("alert_rules") as batch:
        batch.drop_column("tolerance_amps")
    op.drop_index("ix_smart_charging_refusals_ts", table_name="smart_charging_refusals")
    op.drop_table("smart_charging_refusals")
    op.drop_index("ix_charger_loads_ts", table_name="charger_loads")
    op.drop_index("ix_charger_loads_site_ts", table_name="charger_loads")
    op.drop_table("charger_loads")
    op.drop_table("sites")
    op.drop_index("ix_site_loads_ts", table_name="site_loads")
    op.drop_table("site_loads")
