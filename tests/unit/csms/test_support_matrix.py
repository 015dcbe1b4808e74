"""docs/ocpp-support.md says which messages each version's adapter handles: keep it true."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201

from csms.ocpp import v16, v201

MATRIX = Path(__file__).resolve().parents[3] / "docs" / "ocpp-support.md"
ADAPTERS = {"1.6": (v16.ChargePoint, Action16), "2.0.1": (v201.ChargePoint, Action201)}


def rows() -> list[tuple[str, str, str]]:
    found = []
    for line in MATRIX.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"[A-Z][A-Za-z]+", cells[0]):
            found.append((cells[0], cells[1], cells[2]))
    return found


def handled(adapter: type) -> set[str]:
    actions = set()
    for attr in dir(adapter):
        action = getattr(getattr(adapter, attr), "_on_action", None)
        if action:
            actions.add(str(action))
    return actions


def test_the_matrix_lists_messages():
    assert len(rows()) >= 10


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
def test_every_supported_row_has_a_handler_and_every_handler_a_row(version):
    adapter, actions = ADAPTERS[version]
    column = 1 if version == "1.6" else 2
    claimed = {r[0] for r in rows() if r[column] == "yes"}
    assert claimed == handled(adapter)
    for row in rows():
        exists = row[0] in {a.value for a in actions}
        assert (row[column] != "-") == exists, (row[0], version)


def test_every_201_handler_takes_the_custom_data_any_message_may_carry():
    # 2.0.1 Part 2, 2.1.1: customData may sit at the root of every message; the library hands it
    # over as a keyword argument, which a handler without **kwargs refuses (a TypeError).
    adapter = ADAPTERS["2.0.1"][0]
    for attr in dir(adapter):
        handler = getattr(adapter, attr)
        if getattr(handler, "_on_action", None):
            params = inspect.signature(handler).parameters.values()
            assert any(p.kind is p.VAR_KEYWORD or p.name == "custom_data" for p in params), attr
