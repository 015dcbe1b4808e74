"""The ops service's tables. Only this package reads or writes them.

Ingested facts (from other services' events), each keyed so that a late or repeated event
lands where it belongs: stays (a vehicle in a slot, from VehicleParked/VehicleLeft), connector
status changes and the newest status per connector, charging sessions, meter register readings,
invoices, running totals, and the energy manager's site load reports and smart charging
refusals. Then ops' own state: lot capacities, alert rules, incidents and
webhook deliveries.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

from chargepark.db.columns import BIG_ID as _BigId
from chargepark.db.columns import UTC_TIMESTAMP as _TS
from chargepark.db.metadata import service_metadata
from chargepark.db.tables import kernel_tables

metadata = service_metadata()
# The per-phase figures of a site load report: columns <name>_l1, _l2, _l3.
PER_PHASE = ("limit_amps", "other_load_amps", "allocated_amps", "drawn_amps")
kernel = kernel_tables(metadata)


# A vehicle's stay in a slot: VehicleParked's ts is VehicleLeft's arrived_at, so both events of
# a stay meet on one row whichever arrives first. left_at null: still parked.
stays = Table(
    "stays",
    metadata,
    Column("lot_id", String(128), nullable=False),
    Column("slot_ui", String(128), nullable=False),
    Column("arrived_at", _TS, nullable=False),
    Column("level", String(128), nullable=False),
    Column("regnum", String(16), nullable=False),
    Column("ev_bay", Boolean, nullable=False),  # the slot has a charger connector
    Column("charger_id", String(128), nullable=True),
    Column("connector_id", Integer, nullable=True),
    Column("left_at", _TS, nullable=True),
    PrimaryKeyConstraint("lot_id", "slot_ui", "arrived_at"),
)
Index("ix_stays_lot_arrived", stays.c.lot_id, stays.c.arrived_at)
Index("ix_stays_lot_left", stays.c.lot_id, stays.c.left_at)
Index(
    "ix_stays_parked",
    stays.c.lot_id,
    sqlite_where=text("left_at IS NULL"),
    postgresql_where=text("left_at IS NULL"),
)

# Slots per lot, level and kind (EV bay or not), as an operator (or a copy of parking's lot)
# told ops: the denominator of occupancy percentages.
lot_capacity = Table(
    "lot_capacity",
    metadata,
    Column("lot_id", String(128), nullable=False),
    Column("level", String(128), nullable=False),
    Column("ev_bay", Boolean, nullable=False),
    Column("slots", Integer, nullable=False),
    Column("updated_at", _TS, nullable=False),
    PrimaryKeyConstraint("lot_id", "level", "ev_bay"),
)

# Every status a connector reported, in event time: intervals are computed from it at read time,
# so a late change simply slots in.
status_changes = Table(
    "status_changes",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("charger_id", String(128), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(128), nullable=True),
    Column("ts", _TS, nullable=False),
)
Index("ix_status_changes_charger_ts", status_changes.c.charger_id, status_changes.c.ts)
Index("ix_status_changes_ts", status_changes.c.ts)

# The newest status per connector (one row each): what gauges and the fleet summary read.
connectors = Table(
    "connectors",
    metadata,
    Column("charger_id", String(128), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("error_code", String(128), nullable=True),
    Column("status_at", _TS, nullable=False),
    PrimaryKeyConstraint("charger_id", "evse_id"),
)

# When ops last heard of a charger, in event time (status, session or meter reading).
chargers = Table(
    "chargers",
    metadata,
    Column("charger_id", String(128), primary_key=True),
    Column("last_seen", _TS, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("charger_id", String(128), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("started_at", _TS, nullable=False),
    Column("ended_at", _TS, nullable=True),
    Column("meter_start_wh", BigInteger, nullable=True),
    Column("energy_wh", BigInteger, nullable=True),
)
Index("ix_sessions_charger_started", sessions.c.charger_id, sessions.c.started_at)
Index("ix_sessions_started", sessions.c.started_at)
Index(
    "ix_sessions_active",
    sessions.c.charger_id,
    sqlite_where=text("ended_at IS NULL"),
    postgresql_where=text("ended_at IS NULL"),
)

# Energy register readings per EVSE: MeterTelemetry's newest reading per batch, and the start
# and stop registers of sessions. Energy delivered is the sum of rises between readings.
meter_readings = Table(
    "meter_readings",
    metadata,
    Column("charger_id", String(128), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("read_at", _TS, nullable=False),
    Column("energy_wh", BigInteger, nullable=False),
    PrimaryKeyConstraint("charger_id", "evse_id", "read_at"),
)
Index("ix_meter_readings_read_at", meter_readings.c.read_at)

invoices = Table(
    "invoices",
    metadata,
    Column("invoice_id", String(128), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("total_minor", BigInteger, nullable=True),
    Column("issued_at", _TS, nullable=True),
    Column("amount_paid_minor", BigInteger, nullable=True),
    Column("paid_at", _TS, nullable=True),
)
Index("ix_invoices_issued_at", invoices.c.issued_at)
Index("ix_invoices_paid_at", invoices.c.paid_at)
Index(
    "ix_invoices_unpaid",
    invoices.c.issued_at,
    sqlite_where=text("paid_at IS NULL"),
    postgresql_where=text("paid_at IS NULL"),
)

# Running totals kept by the consumer (name, currency or ''), so gauges never count big tables.
totals = Table(
    "totals",
    metadata,
    Column("name", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("name", "currency"),
)

# A site's load per SiteLoadReported (per phase L1-L3, amps; power in kW at its voltage), one
# row per site and report time: a repeated report changes nothing.
site_loads = Table(
    "site_loads",
    metadata,
    Column("site_id", String(128), nullable=False),
    Column("ts", _TS, nullable=False),
    Column("phases", Integer, nullable=False),
    Column("voltage", Float, nullable=False),
    *(Column(f"{name}_l{n}", Float, nullable=False) for name in PER_PHASE for n in (1, 2, 3)),
    Column("power_kw", Float, nullable=False),
    Column("limit_kw", Float, nullable=False),
    Column("allocated_kw", Float, nullable=False),
    PrimaryKeyConstraint("site_id", "ts"),
)
# Rules read every site's reports of a period (no site filter): by time.
Index("ix_site_loads_ts", site_loads.c.ts)

# Each site's newest report time (one row each), so "now" never scans the reports.
sites = Table(
    "sites",
    metadata,
    Column("site_id", String(128), primary_key=True),
    Column("last_at", _TS, nullable=False),
)

# Each charger's (EVSE's) line of a site's report: its limit in force and what it drew.
charger_loads = Table(
    "charger_loads",
    metadata,
    Column("charger_id", String(128), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("ts", _TS, nullable=False),
    Column("site_id", String(128), nullable=False),
    Column("limit_amps", Float, nullable=False),
    Column("drawn_amps", Float, nullable=True),
    Column("paused", Boolean, nullable=False),
    PrimaryKeyConstraint("charger_id", "evse_id", "ts"),
)
Index("ix_charger_loads_site_ts", charger_loads.c.site_id, charger_loads.c.ts)
Index("ix_charger_loads_ts", charger_loads.c.ts)

# Chargers that refused smart charging (SmartChargingRefused), in event time.
smart_charging_refusals = Table(
    "smart_charging_refusals",
    metadata,
    Column("charger_id", String(128), nullable=False),
    Column("ts", _TS, nullable=False),
    Column("site_id", String(128), nullable=False),
    Column("reason", String(512), nullable=False),
    PrimaryKeyConstraint("charger_id", "ts"),
)
Index("ix_smart_charging_refusals_ts", smart_charging_refusals.c.ts)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("window_sec", Integer, nullable=False),
    Column("charger_id", String(128), nullable=True),
    Column("lot_id", String(128), nullable=True),
    Column("threshold_percent", Float, nullable=True),
    Column("ev_only", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("tolerance_amps", Float, nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    # Conditions that fired and cleared after this are still reported on the next evaluation.
    Column("evaluated_at", _TS, nullable=False),
)

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("rule_id", String(36), nullable=False),
    Column("rule_kind", String(32), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("state", String(16), nullable=False),  # open | resolved
    Column("message", String(1024), nullable=False),
    Column("condition_since", _TS, nullable=False),  # event time the condition began
    Column("fired_at", _TS, nullable=False),  # condition_since + the rule's window
    Column("opened_at", _TS, nullable=False),  # when ops opened the incident
    Column("cleared_at", _TS, nullable=True),  # event time the condition ended
    Column("resolved_at", _TS, nullable=True),  # when ops resolved the incident
)
# At most one open incident per rule and subject, whatever evaluates concurrently.
Index(
    "ix_incidents_one_open",
    incidents.c.rule_id,
    incidents.c.subject,
    unique=True,
    sqlite_where=text("state = 'open'"),
    postgresql_where=text("state = 'open'"),
)
Index("ix_incidents_rule_subject", incidents.c.rule_id, incidents.c.subject)
Index("ix_incidents_state_opened", incidents.c.state, incidents.c.opened_at)

alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("incident_id", String(36), nullable=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("event_type", String(64), nullable=False),
    Column("url", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", _TS, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("delivered_at", _TS, nullable=True),
)
Index("ix_alert_deliveries_due", alert_deliveries.c.state, alert_deliveries.c.next_attempt_at)
