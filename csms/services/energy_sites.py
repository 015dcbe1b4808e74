"""A site's limit now, in amps per phase: its schedule, its external limit, the other load on
the connection and its margin. Pure; times passed in."""

from __future__ import annotations

from datetime import datetime

from csms.ports.energy import Amps3, LimitOverride, Site, SiteConfig

ZERO: Amps3 = (0.0, 0.0, 0.0)


def kw_to_amps(kw: float, config: SiteConfig) -> Amps3:
    """A power limit as amps on each phase the site has (phase-to-neutral voltage)."""
    per_phase = kw * 1000.0 / (config.voltage * config.phases)
    return spread(per_phase, config.phases)


def spread(amps: float, phases: int) -> Amps3:
    """The same figure on each of the site's phases (a single-phase site: L1 only)."""
    return (amps, amps, amps) if phases == 3 else (amps, 0.0, 0.0)


def site_limit(config: SiteConfig, now: datetime) -> Amps3:
    """The connection's limit now: the schedule's entry in force (the last that started today,
    else yesterday's last), else the site's own limit."""
    entry = None
    if config.schedule:
        minute = now.hour * 60 + now.minute
        started = [e for e in config.schedule if e.start_minute <= minute]
        entry = max(started or config.schedule, key=lambda e: e.start_minute)
    source = entry if entry is not None else config
    if source.limit_amps is not None:
        return _on_phases(source.limit_amps, config.phases)
    if source.limit_kw is not None:
        return kw_to_amps(source.limit_kw, config)
    return ZERO


def limit_in_force(site: Site, now: datetime) -> Amps3:
    """The site's limit, or its external limit while that lasts, whichever is lower."""
    limit = site_limit(site.config, now)
    external = _external(site.external, site.config, now)
    if external is None:
        return limit
    return _min3(limit, external)


def capacity(site: Site, other_load: Amps3, now: datetime) -> Amps3:
    """What the site's chargers may take: the limit in force - other load - margin, never
    below zero. A single-phase site has nothing on L2 and L3."""
    limit = limit_in_force(site, now)
    margin = site.config.margin_amps
    free = tuple(max(0.0, limit[i] - other_load[i] - margin) for i in range(3))
    return _on_phases((free[0], free[1], free[2]), site.config.phases)


def _external(external: LimitOverride | None, config: SiteConfig, now: datetime) -> Amps3 | None:
    if external is None or external.until <= now:
        return None
    if external.limit_amps is not None:
        return _on_phases(external.limit_amps, config.phases)
    if external.limit_kw is not None:
        return kw_to_amps(external.limit_kw, config)
    return None


def _on_phases(amps: Amps3, phases: int) -> Amps3:
    return amps if phases == 3 else (amps[0], 0.0, 0.0)


def _min3(a: Amps3, b: Amps3) -> Amps3:
    return (min(a[0], b[0]), min(a[1], b[1]), min(a[2], b[2]))
