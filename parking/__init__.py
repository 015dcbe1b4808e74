"""Lots, levels and slots; park and leave; EV bays that name their charger."""
