"""ops: ingested facts (stays, connector status, sessions, meter readings, invoices, totals),
lot capacities, alert rules, incidents and webhook deliveries.

Revision ID: ops_0002
Revises: ops_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "ops_0002"
down_revision = "ops_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _partial(name: str, table: str, columns: list[str], where: str, unique: bool = False) -> None:
    clause = sa.text(where)
    op.create_index(
        name, table, columns, unique=unique, sqlite_where=clause, postgresql_where=clause
    )


def upgrade() -> None:
    op.create_table(
        "stays",
        sa.Column("lot_id", sa.String(128), nullable=False),
        sa.Column("slot_ui", sa.String(128), nullable=False),
        sa.Column("arrived_at", TS, nullable=False),
        sa.Column("level", sa.String(128), nullable=False),
        sa.Column("regnum", sa.String(16), nullable=False),
        sa.Column("ev_bay", sa.Boolean, nullable=False),
        sa.Column("charger_id", sa.String(128), nullable=True),
        sa.Column("connector_id", sa.Integer, nullable=True),
        sa.Column("left_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("lot_id", "slot_ui", "arrived_at", name="pk_stays"),
    )
    op.create_index("ix_stays_lot_arrived", "stays", ["lot_id", "arrived_at"])
    op.create_index("ix_stays_lot_left", "stays", ["lot_id", "left_at"])
    _partial("ix_stays_parked", "stays", ["lot_id"], "left_at IS NULL")
    op.create_table(
        "lot_capacity",
        sa.Column("lot_id", sa.String(128), nullable=False),
        sa.Column("level", sa.String(128), nullable=False),
        sa.Column("ev_bay", sa.Boolean, nullable=False),
        sa.Column("slots", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("lot_id", "level", "ev_bay", name="pk_lot_capacity"),
    )
    op.create_table(
        "status_changes",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("charger_id", sa.String(128), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(128), nullable=True),
        sa.Column("ts", TS, nullable=False),
    )
    op.create_index("ix_status_changes_charger_ts", "status_changes", ["charger_id", "ts"])
    op.create_index("ix_status_changes_ts", "status_changes", ["ts"])
    op.create_table(
        "connectors",
        sa.Column("charger_id", sa.String(128), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_code", sa.String(128), nullable=True),
        sa.Column("status_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("charger_id", "evse_id", name="pk_connectors"),
    )
    op.create_table(
        "chargers",
        sa.Column("charger_id", sa.String(128), primary_key=True),
        sa.Column("last_seen", TS, nullable=False),
    )
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(128), primary_key=True),
        sa.Column("charger_id", sa.String(128), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("connector_id", sa.Integer, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("meter_start_wh", sa.BigInteger, nullable=True),
        sa.Column("energy_wh", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_sessions_charger_started", "sessions", ["charger_id", "started_at"])
    op.create_index("ix_sessions_started", "sessions", ["started_at"])
    _partial("ix_sessions_active", "sessions", ["charger_id"], "ended_at IS NULL")
    op.create_table(
        "meter_readings",
        sa.Column("charger_id", sa.String(128), nullable=False),
        sa.Column("evse_id", sa.Integer, nullable=False),
        sa.Column("read_at", TS, nullable=False),
        sa.Column("energy_wh", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("charger_id", "evse_id", "read_at", name="pk_meter_readings"),
    )
    op.create_index("ix_meter_readings_read_at", "meter_readings", ["read_at"])
    op.create_table(
        "invoices",
        sa.Column("invoice_id", sa.String(128), primary_key=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total_minor", sa.BigInteger, nullable=True),
        sa.Column("issued_at", TS, nullable=True),
        sa.Column("amount_paid_minor", sa.BigInteger, nullable=True),
        sa.Column("paid_at", TS, nullable=True),
    )
    op.create_index("ix_invoices_issued_at", "invoices", ["issued_at"])
    op.create_index("ix_invoices_paid_at", "invoices", ["paid_at"])
    _partial("ix_invoices_unpaid", "invoices", ["issued_at"], "paid_at IS NULL")
    op.create_table(
        "totals",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", "currency", name="pk_totals"),
    )
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("window_sec", sa.Integer, nullable=False),
        sa.Column("charger_id", sa.String(128), nullable=True),
        sa.Column("lot_id", sa.String(128), nullable=True),
        sa.Column("threshold_percent", sa.Float, nullable=True),
        sa.Column("ev_only", sa.Boolean, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("evaluated_at", TS, nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("rule_id", sa.String(36), nullable=False),
        sa.Column("rule_kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.String(1024), nullable=False),
        sa.Column("condition_since", TS, nullable=False),
        sa.Column("fired_at", TS, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("cleared_at", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
    )
    _partial("ix_incidents_one_open", "incidents", ["rule_id", "subject"], "state = 'open'", True)
    op.create_index("ix_incidents_rule_subject", "incidents", ["rule_id", "subject"])
    op.create_index("ix_incidents_state_opened", "incidents", ["state", "opened_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.String(36), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
    )
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["state", "next_attempt_at"])


def downgrade() -> None:
    for table in (
        "alert_deliveries",
        "incidents",
        "alert_rules",
        "totals",
        "invoices",
        "meter_readings",
        "sessions",
        "chargers",
        "connectors",
        "status_changes",
        "lot_capacity",
        "stays",
    ):
        op.drop_table(table)
