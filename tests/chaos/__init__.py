"""Chaos: the distributed topology under load, with faults injected in turn."""
