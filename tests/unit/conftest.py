"""tests/unit holds domain and use-case tests against in-memory fakes: no database, no network.

This guard makes that a rule rather than a habit: opening a SQLite file or binding/connecting a
socket fails the test at once. (asyncio's own self-pipe is a socketpair, which neither binds nor
connects, so event loops still work.) A test that needs a real database or a real socket belongs
in tests/integration or tests/e2e."""

from __future__ import annotations

import socket
import sqlite3

import pytest


class OutsideUnitTest(AssertionError):
    pass


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise OutsideUnitTest(f"a unit test may not use {what}: move it to tests/integration")

    return refuse


@pytest.fixture(autouse=True)
def no_database_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite3, "connect", _refuse("SQLite"))
    monkeypatch.setattr(socket.socket, "connect", _refuse("a network connection"))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("a network connection"))
    monkeypatch.setattr(socket.socket, "bind", _refuse("a listening socket"))
