"""Picks the event bus transport the settings ask for."""

from __future__ import annotations

from chargepark.config import BusSettings
from chargepark.events.bus import EventBus
from chargepark.events.inprocess import InProcessBus


def make_bus(settings: BusSettings) -> EventBus:
    """The in-process bus when no bus URL is set (embedded), else NATS JetStream."""
    if settings.in_process:
        return InProcessBus()
    assert settings.url is not None
    from chargepark.events.nats import NatsBus

    return NatsBus(settings.url, stream=settings.stream, subject_prefix=settings.subject_prefix)
