"""The energy manager's tables, in csms's own metadata (csms/adapters/tables.py).

Sites are lots' electrical connections; their chargers are the lot's EV bays' chargers (what
parking last said of the lot's layout) plus chargers assigned explicitly. What is in force on
each charger is kept here, not in memory, so another csms node can take a site over.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table, Text

from chargepark.db.columns import UTC_TIMESTAMP as _TS
from csms.adapters.tables import metadata

# One row per site (the id is the lot id). Limits in amps are JSON: one number for every phase
# or one per phase. The schedule is JSON {"timezone", "entries": [{"start", "end", "limit",
# "weekdays", "in_kw"}]} (csms/domain/energy/site.py's ScheduleEntry; weekdays 0 Monday);
# an older row holds a list of {"start_minute", "limit_amps" | "limit_kw"}, daily in UTC.
energy_sites = Table(
    "energy_sites",
    metadata,
    Column("site_id", String(128), primary_key=True),
    Column("phases", Integer, nullable=False),  # 1 or 3
    Column("voltage", Float, nullable=False),  # phase to neutral
    Column("limit_amps", Text, nullable=True),  # JSON amps, or [L1, L2, L3]
    Column("limit_kw", Float, nullable=True),
    Column("margin_amps", Float, nullable=False),
    Column("schedule", Text, nullable=True),  # JSON, with the site's time zone
    Column("charger_max_amps", Float, nullable=False),  # a charger's rating, unless told
    Column("ratings", Text, nullable=True),  # JSON {charger_id: amps}
    Column("meter_charger", String(48), nullable=True),  # its MeterValues are the other load
    Column("external_limit_amps", Text, nullable=True),  # JSON amps, or [L1, L2, L3]
    Column("external_limit_kw", Float, nullable=True),
    Column("external_until", _TS, nullable=True),
    Column("other_load_amps", Text, nullable=True),  # JSON [L1, L2, L3], pushed
    Column("other_load_at", _TS, nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
)

# Chargers assigned to a site by the operator (besides the lot's EV bays).
energy_site_chargers = Table(
    "energy_site_chargers",
    metadata,
    Column("site_id", String(128), primary_key=True),
    Column("charger_id", String(48), primary_key=True),
    Index("ix_energy_site_chargers_charger", "charger_id"),
)

# A lot's EV bays as parking last described them (LotBaysChanged); `energy_lots` keeps the
# time of that description, so an older event arriving late changes nothing.
energy_lots = Table(
    "energy_lots",
    metadata,
    Column("lot_id", String(128), primary_key=True),
    Column("layout_at", _TS, nullable=False),
)
energy_lot_bays = Table(
    "energy_lot_bays",
    metadata,
    Column("lot_id", String(128), primary_key=True),
    Column("slot_ui", String(128), primary_key=True),
    Column("charger_id", String(48), nullable=False),
    Column("connector_id", Integer, nullable=True),
    Index("ix_energy_lot_bays_charger", "charger_id"),
)

# What is in force on each charger: evse 0 is the station maximum profile, evse n the
# transaction profile of that EVSE's session (multi-EVSE chargers). `refused` marks a charger
# that rejected a profile or did not answer: counted at its rating until it boots again.
energy_in_force = Table(
    "energy_in_force",
    metadata,
    Column("charger_id", String(48), primary_key=True),
    Column("evse_id", Integer, primary_key=True),
    Column("site_id", String(128), nullable=False),
    Column("limit_amps", Float, nullable=False),
    Column("refused", Boolean, nullable=False),
    Column("changed_at", _TS, nullable=False),
    Index("ix_energy_in_force_site", "site_id"),
)

# Which csms node runs each site's allocation: renewed every few seconds by its holder; a row
# past `expires_at` may be taken by any node.
energy_leases = Table(
    "energy_leases",
    metadata,
    Column("site_id", String(128), primary_key=True),
    Column("node_id", String(64), nullable=False),
    Column("expires_at", _TS, nullable=False),
)
