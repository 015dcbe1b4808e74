"""The csms service's tables. Only this package reads or writes them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from chargepark.db.columns import BIG_ID as _BigId
from chargepark.db.columns import UTC_TIMESTAMP as _TS
from chargepark.db.metadata import service_metadata
from chargepark.db.tables import kernel_tables

metadata = service_metadata()
kernel = kernel_tables(metadata)


chargers = Table(
    "chargers",
    metadata,
    Column("id", String(48), primary_key=True),  # the OCPP identity in the connection URL
    Column("password_hash", Text, nullable=True),  # security profile 1/2 Basic auth
    Column("expected_vendor", String(50), nullable=True),
    Column("expected_model", String(50), nullable=True),
    Column("tariff_id", String(64), nullable=True),
    Column("registration", String(16), nullable=False),  # Accepted | Pending | Rejected
    Column("vendor", String(50), nullable=True),  # from the last BootNotification
    Column("model", String(50), nullable=True),
    Column("serial_number", String(50), nullable=True),
    Column("firmware_version", String(50), nullable=True),
    Column("ocpp_version", String(16), nullable=True),
    Column("last_boot_at", _TS, nullable=True),
    Column("last_seen_at", _TS, nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
)

connectors = Table(
    "connectors",
    metadata,
    Column(
        "charger_id", String(48), ForeignKey("chargers.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("evse_id", Integer, primary_key=True),  # 0 with connector 0: the whole charger
    Column("connector_id", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("error_code", String(50), nullable=True),
    Column("info", String(512), nullable=True),
    Column("status_at", _TS, nullable=False),  # the charger's timestamp of the status
)

# What accounts said of each id token, kept so Authorize is answered without a round trip and,
# when accounts is unreachable, from a stale entry rather than not at all.
id_token_cache = Table(
    "id_token_cache",
    metadata,
    Column("id_token", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # Accepted | Blocked | Expired | Unknown
    Column("customer_id", String(36), nullable=True),
    Column("expires_at", _TS, nullable=True),
    Column("fetched_at", _TS, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("charger_id", String(48), nullable=False),
    # 1.6: our integer; 2.0.1: theirs; none yet while a remote start is pending
    Column("transaction_id", String(36), nullable=True),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("id_token", String(64), nullable=True),
    Column("customer_id", String(36), nullable=True),
    Column("start_key", String(200), nullable=True),  # recognizes a retransmitted 1.6 start
    Column("status", String(16), nullable=False),  # pending | active | closed | failed
    Column("meter_start_wh", BigInteger, nullable=True),  # Wh: a reading is at most 10^12
    Column("meter_stop_wh", BigInteger, nullable=True),
    Column("started_at", _TS, nullable=False),
    Column("ended_at", _TS, nullable=True),
    Column("stop_reason", String(32), nullable=True),
    Column("last_seq_no", Integer, nullable=True),
    Column("regnum", String(16), nullable=True),  # the vehicle parked at the bay, if any
    Column("tariff_id", String(64), nullable=True),  # the charger's tariff at the start
    Column("remote_start_id", Integer, nullable=True),  # links a 2.0.1 remote start
    Column("requested_at", _TS, nullable=True),  # when a remote start was asked for
    Column("auth_status", String(16), nullable=True),  # what the id token was answered
    Column("seq_missing", String(200), nullable=True),  # 2.0.1 seqNo holes, e.g. "3,4"
    Column("offline_events", Integer, nullable=False, server_default="0"),
    Column("meter_anomalies", Integer, nullable=False, server_default="0"),  # register drops
    Column("energy_wh", BigInteger, nullable=True),  # set at the close
    Column("energy_source", String(16), nullable=True),  # registers | samples | intervals | none
    UniqueConstraint("charger_id", "transaction_id", name="uq_sessions_transaction"),
    UniqueConstraint("charger_id", "start_key", name="uq_sessions_start_key"),
    Index("ix_sessions_id_token_status", "id_token", "status"),
    Index("ix_sessions_charger_status", "charger_id", "status"),
    Index("ix_sessions_remote_start", "charger_id", "remote_start_id"),
)

# OCPP 1.6 transaction ids are integers the CSMS hands out: a store sequence, never random.
transaction_ids = Table(
    "transaction_ids",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("charger_id", String(48), nullable=False),
)

# Every sampled value chargers send (MeterValues, transaction data). Written in group commits.
meter_samples = Table(
    "meter_samples",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("charger_id", String(48), nullable=False),
    Column("evse_id", Integer, nullable=False),
    Column("connector_id", Integer, nullable=False),
    Column("transaction_id", String(36), nullable=True),
    Column("sampled_at", _TS, nullable=False),
    Column("measurand", String(48), nullable=False),
    Column("phase", String(8), nullable=True),
    Column("unit", String(16), nullable=True),
    Column("multiplier", Integer, nullable=True),  # 2.0.1: value x 10^multiplier
    Column("context", String(24), nullable=True),
    Column("location", String(8), nullable=True),
    Column("value", String(32), nullable=False),  # as sent: no float rounding of registers
    Index("ix_meter_samples_charger", "charger_id", "sampled_at"),
    Index("ix_meter_samples_transaction", "charger_id", "transaction_id"),
)

# Notifications that change no state here but must not be lost: firmware, diagnostics and log
# upload progress, security events, vendor data. Kept as received, for operators.
charger_notifications = Table(
    "charger_notifications",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("charger_id", String(48), nullable=False),
    Column("action", String(48), nullable=False),
    Column("payload", Text, nullable=False),  # the message's JSON, as received
    Column("received_at", _TS, nullable=False),
    Index("ix_charger_notifications_charger", "charger_id", "received_at"),
)

# Which vehicle parking says stands at which charger's bay (VehicleParked / VehicleLeft), so a
# session on that charger gets the vehicle's regnum. Keyed by the stay: the two events may
# arrive in either order.
bay_vehicles = Table(
    "bay_vehicles",
    metadata,
    Column("lot_id", String(128), primary_key=True),
    Column("regnum", String(16), primary_key=True),
    Column("arrived_at", _TS, primary_key=True),
    Column("slot_ui", String(128), nullable=True),
    Column("charger_id", String(128), nullable=True),
    Column("evse_id", Integer, nullable=True),  # the bay's connector (1.6) = EVSE (2.0.1)
    Column("left_at", _TS, nullable=True),
    Column("departure_at", _TS, nullable=True),  # the driver's declared departure, if any
    Index("ix_bay_vehicles_charger", "charger_id", "left_at"),
)

# Every CSMS -> charger command and how it ended: written as `sent` before the CALL goes out,
# then settled (answered | error | timeout | offline | invalid). A row still `sent` well past
# requested_at + timeout_sec was cut short by a restart.
charger_commands = Table(
    "charger_commands",
    metadata,
    Column("id", _BigId, primary_key=True, autoincrement=True),
    Column("charger_id", String(48), nullable=False),
    Column("action", String(48), nullable=False),
    Column("request", Text, nullable=False),  # the payload's JSON, as sent
    Column("status", String(16), nullable=False),
    Column("response", Text, nullable=True),  # the CALLRESULT payload's JSON
    Column("error_code", String(50), nullable=True),  # the CALLERROR's, or ours for the rest
    Column("error_description", Text, nullable=True),
    Column("error_details", Text, nullable=True),  # JSON
    Column("requested_by", String(255), nullable=True),  # the token's subject
    Column("requested_at", _TS, nullable=False),
    Column("answered_at", _TS, nullable=True),  # when the charger answered (result or error)
    Column("timeout_sec", Float, nullable=False),
    Index("ix_charger_commands_charger", "charger_id", "id"),
)

# Which csms node holds each connected charger's WebSocket: written by that node when the
# connection is accepted and removed when it closes, so any node can route a command to it.
# A node clears its own rows when it starts and stops; a crashed node's rows are removed by the
# first node that finds nobody answering for it, or that finds its heartbeat stale.
charger_presence = Table(
    "charger_presence",
    metadata,
    Column("charger_id", String(48), primary_key=True),
    Column("node_id", String(64), nullable=False),
    Column("ocpp_version", String(16), nullable=False),  # "1.6", "2.0.1"
    Column("connected_at", _TS, nullable=False),
    Index("ix_charger_presence_node", "node_id"),
)

# Each csms node's heartbeat: written by the node every few seconds while it runs, removed when
# it stops. A row older than the node timeout is a node that crashed or was cut off.
csms_nodes = Table(
    "csms_nodes",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("seen_at", _TS, nullable=False),
)

# Smart charging (OCPP 1.6 Smart Charging profile, 2.0.1 block K).
# What each charger said it can hold: read after every accepted boot.
smart_charging_limits = Table(
    "smart_charging_limits",
    metadata,
    Column("charger_id", String(48), primary_key=True),
    Column("supported", Boolean, nullable=False),
    Column("max_stack_level", Integer, nullable=True),
    Column("units", String(8), nullable=False),  # "A,W", "A", ... ("": not said)
    Column("max_periods", Integer, nullable=True),
    Column("max_profiles", Integer, nullable=True),
    Column("read_at", _TS, nullable=False),
)

# The operator's profiles per charger (REST), sent again when the charger lost them.
charging_profiles = Table(
    "charging_profiles",
    metadata,
    Column("charger_id", String(48), primary_key=True),
    Column("profile_id", Integer, primary_key=True),
    Column("profile", Text, nullable=False),  # the version-free fields' JSON
    Column("delivery", String(16), nullable=False),  # pending | sent | accepted | rejected
    Column("detail", String(512), nullable=True),
    Column("updated_at", _TS, nullable=False),
)

# The profiles a 2.0.1 charger reported holding (ReportChargingProfiles).
installed_charging_profiles = Table(
    "installed_charging_profiles",
    metadata,
    Column("charger_id", String(48), primary_key=True),
    Column("profile_id", Integer, primary_key=True),
    Column("evse_id", Integer, nullable=False),
    Column("source", String(8), nullable=False),  # chargingLimitSource: CSO, EMS, SO, Other
    Column("request_id", Integer, nullable=False),
    Column("profile", Text, nullable=False),
    Column("reported_at", _TS, nullable=False),
)

# Limits a 2.0.1 charger reports from elsewhere (NotifyChargingLimit), until it clears them.
external_charging_limits = Table(
    "external_charging_limits",
    metadata,
    Column("charger_id", String(48), primary_key=True),
    Column("evse_id", Integer, primary_key=True),  # 0: the whole charger
    Column("source", String(8), primary_key=True),
    Column("limit_value", Float, nullable=True),
    Column("unit", String(2), nullable=True),
    Column("grid_critical", Boolean, nullable=True),
    Column("schedule", Text, nullable=True),  # the reported schedules' JSON
    Column("reported_at", _TS, nullable=False),
)

# What an ISO 15118 car said it needs (NotifyEVChargingNeeds) and the schedule it chose
# (NotifyEVChargingSchedule), the newest per EVSE.
ev_charging_needs = Table(
    "ev_charging_needs",
    metadata,
    Column("charger_id", String(48), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("requested_transfer", String(16), nullable=True),
    Column("departure", _TS, nullable=True),
    Column("energy_wh", Float, nullable=True),
    Column("max_current", Float, nullable=True),
    Column("min_current", Float, nullable=True),
    Column("needs", Text, nullable=True),  # the chargingNeeds JSON as received
    Column("reported_at", _TS, nullable=True),
    Column("ev_schedule", Text, nullable=True),
    Column("ev_schedule_at", _TS, nullable=True),
)
