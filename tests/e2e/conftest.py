"""Fixtures of the csms end-to-end tests, shared by their modules."""

from tests.e2e.test_chargers import csms, http  # noqa: F401 - pytest finds fixtures by name
